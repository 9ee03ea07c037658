// Drive megajs, an independent MEGA client (npm, installed here by scripts/test from
// package-lock.json), against the emulator: one JSON step per line on stdin, one JSON
// answer per line on stdout, {"result": ...} or {"error": {"message": ...}}. At the end
// of stdin the client logs out (megajs's close: "sml") and the process exits.
//
// Steps (tests/megasim/megajs/test_megajs.py sends them):
//   {"op": "login", "gateway": "<emulator>/", "email", "password", "keepalive": bool}
//       log in (solving any hashcash challenge, as megajs does) and read the tree; with
//       keepalive megajs then follows the /sc channel; its events are kept for "events".
//       -> {"user", "root", "version"}
//   {"op": "upload", "path", "name"}: upload a local file into the Cloud Drive, handed to
//       megajs as a Buffer with its default connections (megajs encrypts that Buffer in
//       place), then export it. -> {"handle", "name", "size", "link", "changed_in_place"}
//   {"op": "download", "handle", "path"}: a node of the account, into a local file;
//       megajs checks the MAC and fails on a mismatch. -> {"size"}
//   {"op": "download_url", "url", "path"}: a public link, the same way (a client of its
//       own, no session). -> {"name", "size"}
//   {"op": "link_info", "url"}: a public link's name and size, decrypted with the key
//       the link carries, without downloading. -> {"name", "size"}
//   {"op": "attribute", "handle", "type": "thumbnail" | "preview", "path"}: attach a
//       local file's bytes to a node of the account as that file attribute (megajs's
//       uploadAttribute: "ufa", a POST to <url>/<type>, "pfa"). -> {}
//   {"op": "folder_link", "url", "dir"}: a public folder link, listed and every file in it
//       downloaded into dir (MAC checked), as megajs opens a folder link.
//       -> {"name", "files": [{"name", "size", "path"}]}
//   {"op": "events", "count", "timeout_ms"}: the first `count` tree events megajs saw on
//       the /sc channel since login, waiting up to timeout_ms for them.
//       -> [{"event", "handle", "name", "parent"}]
import { readFile, writeFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { API, File, Storage } from 'megajs'

const VERSION = JSON.parse(
  await readFile(new URL('./node_modules/megajs/package.json', import.meta.url))
).version

let storage = null
let gateway = null
const events = []
let eventArrived = () => {}

function describe (event, file) {
  return {
    event,
    handle: file.nodeId,
    name: file.name,
    parent: file.parent ? file.parent.nodeId : null
  }
}

function record (event, file) {
  events.push(describe(event, file))
  eventArrived()
}

async function login (step) {
  gateway = step.gateway
  storage = new Storage({
    email: step.email,
    password: step.password,
    gateway,
    keepalive: step.keepalive
  })
  // An error on the /sc channel would otherwise be thrown from the event emitter.
  storage.api.on('error', (error) => record('error', { nodeId: null, name: String(error) }))
  await storage.ready
  for (const event of ['add', 'move', 'delete', 'update']) {
    storage.on(event, (file) => record(event, file))
  }
  return { user: storage.user, root: storage.root.nodeId, version: VERSION }
}

async function upload (step) {
  const content = await readFile(step.path)
  const original = Buffer.from(content)
  const file = await storage.upload({ name: step.name }, content).complete
  return {
    handle: file.nodeId,
    name: file.name,
    size: file.size,
    link: await file.link(),
    changed_in_place: !content.equals(original)
  }
}

async function download (step) {
  const file = storage.files[step.handle]
  if (!file) throw new Error(`no node ${step.handle} in megajs's tree`)
  const content = await file.downloadBuffer()
  await writeFile(step.path, content)
  return { size: content.length }
}

async function attribute (step) {
  const file = storage.files[step.handle]
  if (!file) throw new Error(`no node ${step.handle} in megajs's tree`)
  await file.uploadAttribute(step.type, await readFile(step.path))
  return {}
}

async function publicFile (step) {
  const api = new API(false, { gateway: step.gateway || gateway })
  const file = File.fromURL(step.url, { api })
  await file.loadAttributes()
  return file
}

async function downloadUrl (step) {
  const file = await publicFile(step)
  const content = await file.downloadBuffer()
  await writeFile(step.path, content)
  return { name: file.name, size: content.length }
}

async function linkInfo (step) {
  const file = await publicFile(step)
  return { name: file.name, size: file.size }
}

async function folderLink (step) {
  const folder = await publicFile(step)
  const files = []
  for (const child of folder.children || []) {
    if (child.directory) continue
    // megajs makes a folder's children with its global API (MEGA's own gateway), not
    // the folder's: point them at the emulator, as the folder is.
    child.api = folder.api
    const content = await child.downloadBuffer()
    const path = `${step.dir}/${files.length}`
    await writeFile(path, content)
    files.push({ name: child.name, size: content.length, path })
  }
  return { name: folder.name, files }
}

async function awaitEvents (step) {
  const deadline = Date.now() + step.timeout_ms
  while (events.length < step.count && Date.now() < deadline) {
    await new Promise((resolve) => {
      eventArrived = resolve
      setTimeout(resolve, Math.max(0, deadline - Date.now()))
    })
  }
  return events.slice(0, step.count)
}

const OPERATIONS = {
  login,
  upload,
  download,
  attribute,
  download_url: downloadUrl,
  link_info: linkInfo,
  folder_link: folderLink,
  events: awaitEvents
}

const lines = createInterface({ input: process.stdin })
for await (const line of lines) {
  if (!line.trim()) continue
  const step = JSON.parse(line)
  let answer
  try {
    const operation = OPERATIONS[step.op]
    if (!operation) throw new Error(`unknown op ${step.op}`)
    answer = { result: await operation(step) }
  } catch (error) {
    answer = { error: { message: error.message || String(error) } }
  }
  process.stdout.write(JSON.stringify(answer) + '\n')
}
if (storage && storage.status === 'ready') await storage.close() // megajs's logout: "sml"
process.exit(0)
