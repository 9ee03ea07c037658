// The upload page: drop or pick files; each is sent to Paimon (multipart with
// `Prefer: respond-async`, or resumable tus in chunks for larger ones), then its job is
// followed at /status/<id> until the storage has it and the link is shown. Finished
// uploads (name, link, delete link, when) are remembered in this browser's
// localStorage, each with its QR code, a copy button and a delete button.
"use strict";

const MULTIPART_LIMIT = 8 * 1024 * 1024; // larger files, or larger than one chunk: tus
const DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024; // when /status does not say
const POLL_MS = 500;
const TOKEN_KEY = "paimon-token";
const HISTORY_KEY = "paimon-uploads"; // finished uploads, newest first
const PENDING_KEY = "paimon-tus-deletes"; // tus upload URL -> delete link, until it is done
const HISTORY_LIMIT = 200;
const SVG_NS = "http://www.w3.org/2000/svg";

const byId = (id) => document.getElementById(id);
const tokenRow = byId("token-row");
const tokenInput = byId("token");
const keepFields = byId("keep");
const maxDays = byId("max-days");
const maxDownloads = byId("max-downloads");
const maxDownloadsRow = byId("max-downloads-row");
const dropZone = byId("drop-zone");
const fileInput = byId("files");
const list = byId("uploads");
const historyTools = byId("history-tools");
let rows = 0;

// What needs JavaScript shows only now: without it the page is the plain form.
dropZone.hidden = false;
keepFields.hidden = false;

tokenInput.value = localStorage.getItem(TOKEN_KEY) || "";
tokenInput.addEventListener("input", () => localStorage.setItem(TOKEN_KEY, tokenInput.value.trim()));

/** What the server says of itself: whether it wants a token, where it stores, and the
 * size of the tus chunks it wants (PAIMON_TUS_CHUNK_BYTES). */
const server = fetch("/status", { headers: { Accept: "application/json" } })
  .then((reply) => reply.json())
  .then((status) => {
    tokenRow.hidden = status.auth !== "token";
    // Only files Paimon serves itself can count their downloads (MEGA serves its own).
    maxDownloadsRow.hidden = status.storage !== "local";
    return { chunkBytes: status.tus_chunk_bytes || DEFAULT_CHUNK_BYTES };
  })
  .catch(() => ({ chunkBytes: DEFAULT_CHUNK_BYTES })); // uploads report their own errors

/** A number field as the server reads it ("0.5", not "0.50"); anything else as typed,
 * for the server to say what is wrong with it. */
function fieldValue(input) {
  const typed = input.value.trim();
  const value = Number(typed);
  return typed && Number.isFinite(value) && value > 0 ? String(value) : typed;
}

/** The token and the "keep" choices, as headers on every upload request. */
function uploadHeaders() {
  const headers = {};
  const token = tokenInput.value.trim();
  if (token) headers.Authorization = `Bearer ${token}`;
  const days = fieldValue(maxDays);
  if (days) headers["Max-Days"] = days;
  const downloads = maxDownloadsRow.hidden ? "" : fieldValue(maxDownloads);
  if (downloads) headers["Max-Downloads"] = downloads;
  return headers;
}

function formatBytes(bytes) {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit ? `${value.toFixed(1)} ${units[unit]}` : `${bytes} bytes`;
}

function element(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

const isWebLink = (text) => typeof text === "string" && /^https?:\/\//i.test(text);

// ---- This browser's uploads, in localStorage -------------------------------------

function readList(key) {
  try {
    const value = JSON.parse(localStorage.getItem(key) || "null");
    return value && typeof value === "object" ? value : null;
  } catch {
    return null; // not ours, or damaged: start again
  }
}

function writeList(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // storage full or refused: the page still works, it only forgets
  }
}

/** The remembered uploads, newest first; entries without a usable link are skipped. */
function remembered() {
  const entries = readList(HISTORY_KEY);
  return Array.isArray(entries)
    ? entries.filter((e) => e && typeof e.name === "string" && isWebLink(e.link))
    : [];
}

function saveHistory(entries) {
  writeList(HISTORY_KEY, entries.slice(0, HISTORY_LIMIT));
  historyTools.hidden = entries.length === 0;
}

/** Kept in the order the uploads started (newest first; one drop in its own order),
 * whichever finished first. */
function remember(entry) {
  const entries = [entry, ...remembered().filter((e) => e.id !== entry.id)];
  saveHistory(entries.sort((a, b) => b.at - a.at || (a.place || 0) - (b.place || 0)));
}

function forget(id) {
  saveHistory(remembered().filter((e) => e.id !== id));
}

/** A tus upload's delete link is told only by its creation's reply: kept until the
 * upload is done, so an upload resumed after a reload still has it. */
function pendingDeletes() {
  return readList(PENDING_KEY) || {};
}

function setPendingDelete(uploadUrl, deleteUrl) {
  const pending = pendingDeletes();
  if (deleteUrl) pending[uploadUrl] = deleteUrl;
  else delete pending[uploadUrl];
  writeList(PENDING_KEY, pending);
}

// ---- QR codes (qrcode-generator, vendored) ----------------------------------------

/** The link as an SVG QR code: dark modules on a light square, in any colour scheme. */
function qrCode(text) {
  const code = qrcode(0, "M");
  // Byte mode takes one character per byte: the link's UTF-8 bytes.
  code.addData(String.fromCharCode(...new TextEncoder().encode(text)), "Byte");
  code.make();
  const quiet = 4; // the quiet zone scanners need, in modules
  const size = code.getModuleCount() + 2 * quiet;
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("shape-rendering", "crispEdges");
  svg.setAttribute("role", "img");
  const background = document.createElementNS(SVG_NS, "rect");
  background.setAttribute("width", size);
  background.setAttribute("height", size);
  background.setAttribute("fill", "#fff");
  let path = "";
  for (let row = 0; row < code.getModuleCount(); row += 1) {
    for (let col = 0; col < code.getModuleCount(); col += 1) {
      if (code.isDark(row, col)) path += `M${col + quiet} ${row + quiet}h1v1h-1z`;
    }
  }
  const modules = document.createElementNS(SVG_NS, "path");
  modules.setAttribute("d", path);
  modules.setAttribute("fill", "#000");
  svg.append(background, modules);
  return svg;
}

// ---- One row per upload ----------------------------------------------------------

/** One file's row: while it is sent, two progress bars; once stored, its link, QR
 * code, delete link and buttons; else the reason it failed, in words. */
class Row {
  constructor(name, size) {
    this.id = `upload-${(rows += 1)}`;
    this.name = name;
    this.size = size;
    this.deleteUrl = null;
    this.node = element(
      "li",
      { className: "upload", id: this.id },
      element("h2", {}, name, " ", element("span", { className: "muted" }, `(${formatBytes(size)})`)),
    );
  }

  /** A file being sent now, the ``place``-th of a drop at time ``started``: its bars. */
  static sending(file, started, place) {
    const row = new Row(file.name, file.size);
    row.started = started;
    row.place = place;
    row.sent = row.leg("sent", "To Paimon");
    row.stored = row.leg("stored", "To storage");
    row.confirmed = 0; // the part of the file the server has confirmed
    row.node.append(row.sent.node, row.stored.node);
    return row;
  }

  /** An upload remembered from before. */
  static remembered(entry) {
    const row = new Row(entry.name, entry.size || 0);
    row.show(entry);
    list.append(row.node);
    return row;
  }

  leg(kind, label) {
    const id = `${this.id}-${kind}`;
    const bar = element("progress", { id, max: 100, value: 0 });
    const text = element("output", { htmlFor: id, value: "0%" });
    const name = element("label", { htmlFor: id }, label);
    const node = element("div", { className: `leg ${kind}` }, name, bar, text);
    return { node, name, bar, text };
  }

  progress(leg, fraction) {
    const percent = Math.floor(Math.min(1, fraction) * 100);
    leg.bar.value = percent;
    leg.text.value = `${percent}%`;
  }

  /** Bytes on their way: 100% only once the server has accepted the whole file. */
  sending(fraction) {
    this.progress(this.sent, Math.min(fraction, 0.99));
  }

  accepted() {
    this.confirmed = 1;
    this.progress(this.sent, 1);
  }

  done(job) {
    this.progress(this.stored, 1);
    const entry = {
      id: job.id,
      name: job.filename || this.name,
      size: job.size ?? this.size,
      link: job.link,
      deleteUrl: this.deleteUrl,
      at: this.started, // when it was dropped
      place: this.place,
      expiresAt: job.expires_at ?? null,
      maxDownloads: job.max_downloads ?? null,
    };
    if (job.link) remember(entry);
    this.show(entry);
  }

  /** The finished upload: when, its link to copy, its QR code, its delete link. */
  show(entry) {
    this.entry = entry;
    this.node.classList.add("done");
    const facts = [`Uploaded ${new Date(entry.at).toLocaleString()}`];
    if (entry.expiresAt) facts.push(`kept until ${new Date(entry.expiresAt * 1000).toLocaleString()}`);
    if (entry.maxDownloads) facts.push(`for ${entry.maxDownloads} download${entry.maxDownloads === 1 ? "" : "s"}`);
    const field = element("input", { id: `${this.id}-link`, readOnly: true, value: entry.link });
    field.setAttribute("aria-label", `Link to ${entry.name}`);
    const copy = element("button", { type: "button", textContent: "Copy link" });
    copy.dataset.copy = field.id;
    const qr = element("details", { className: "qr" }, element("summary", {}, "QR code"));
    if (typeof qrcode === "function") {
      const svg = qrCode(entry.link);
      svg.setAttribute("aria-label", `QR code of the link to ${entry.name}`);
      qr.append(svg);
    }
    this.finished = element(
      "div",
      { className: "finished" },
      element("p", { className: "muted when" }, facts.join(" · ")),
      element("p", { className: "link" }, field, copy),
      qr,
    );
    if (isWebLink(entry.deleteUrl)) {
      const remove = element("button", { type: "button", className: "delete-button secondary" }, "Delete");
      remove.setAttribute("aria-label", `Delete ${entry.name}`);
      remove.addEventListener("click", () => this.delete(remove));
      this.finished.append(
        element(
          "p",
          { className: "delete" },
          "Delete link: ",
          element("a", { className: "delete-link", href: entry.deleteUrl }, entry.deleteUrl),
          " ",
          remove,
        ),
      );
    }
    this.node.append(this.finished);
  }

  async delete(button) {
    button.disabled = true;
    this.note?.remove();
    let reply;
    try {
      reply = await fetch(this.entry.deleteUrl, { method: "DELETE", headers: { Accept: "application/json" } });
    } catch {
      reply = null;
    }
    if (reply && (reply.ok || reply.status === 404)) {
      // 404: deleted already (elsewhere, or it expired): gone either way.
      forget(this.entry.id);
      this.finished.remove();
      this.node.classList.replace("done", "deleted");
      const said = reply.ok ? "Deleted: the file and its link are gone." : `Already gone: ${reason(404, await reply.text())}`;
      this.node.append(element("p", { className: "deleted-note", role: "status" }, said));
      return;
    }
    button.disabled = false;
    const message = reply ? reason(reply.status, await reply.text()) : reason(0, "");
    this.note = element("p", { className: "error", role: "alert" }, `Not deleted: ${message}`);
    this.node.append(this.note);
  }

  /** Failed: the bar for the sent bytes keeps only what the server confirmed. */
  fail(message) {
    if (this.sent && this.confirmed < 1) {
      this.progress(this.sent, this.confirmed);
      this.sent.text.value = "Failed";
    }
    this.node.append(element("p", { className: "error", role: "alert" }, `Failed: ${message}`));
    this.node.classList.add("failed");
  }
}

/** Why a request failed, in words for the person at this page. */
const SAID_HERE = {
  token_required: "This server needs an upload token: type it in the “Upload token” field above, then send the file again.",
  token_rejected: "The upload token is not valid: check the “Upload token” field above, then send the file again.",
};

/** The server names the header it refused, with its bounds: here, the field it came from. */
const KEEP_FIELDS = { "The header 'Max-Days'": "“For days”", "The header 'Max-Downloads'": "“For downloads”" };

function keepReason(message) {
  const [header, field] = Object.entries(KEEP_FIELDS).find(([named]) => message.startsWith(named)) || ["", ""];
  return `“Keep each file”: ${header ? field + message.slice(header.length) : message}`;
}

/** The message of a JSON error reply, or a sentence about the status code. */
function reason(status, text) {
  try {
    const body = JSON.parse(text);
    if (body.error === "token_required" || body.error === "token_rejected") tokenRow.hidden = false;
    if (SAID_HERE[body.error]) return SAID_HERE[body.error];
    if (body.error === "bad_keep" && body.message) return keepReason(body.message);
    if (body.message) return body.message;
  } catch {
    // not JSON: a proxy's page, say
  }
  if (status === 413) return "the file is larger than the server (or a proxy before it) accepts.";
  return status ? `the server answered ${status}.` : "the connection to the server was lost.";
}

/** Follow the job until the storage has the file (the second leg). */
async function follow(jobId, row) {
  row.accepted();
  for (;;) {
    let job;
    try {
      const reply = await fetch(`/status/${encodeURIComponent(jobId)}`, {
        headers: { Accept: "application/json" },
        cache: "no-store",
      });
      if (!reply.ok) return row.fail(reason(reply.status, await reply.text()));
      job = await reply.json();
    } catch {
      job = null; // a blip: ask again
    }
    if (job) {
      row.stored.name.textContent = `To ${job.backend}`;
      if (job.size) row.progress(row.stored, job.bytes_stored / job.size);
      if (job.state === "done") return row.done(job);
      if (job.state === "failed") return row.fail(job.error);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function sendForm(file, row) {
  const request = new XMLHttpRequest();
  request.open("POST", "/upload");
  request.setRequestHeader("Prefer", "respond-async");
  request.setRequestHeader("Accept", "application/json");
  for (const [name, value] of Object.entries(uploadHeaders())) request.setRequestHeader(name, value);
  request.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) row.sending(event.loaded / event.total);
  });
  request.addEventListener("load", () => {
    if (request.status === 202 || request.status === 200) {
      const reply = JSON.parse(request.responseText);
      row.deleteUrl = reply.delete_url || null;
      follow(reply.id, row);
    } else {
      row.fail(reason(request.status, request.responseText));
    }
  });
  request.addEventListener("error", () => row.fail(reason(0, "")));
  const form = new FormData();
  form.append("file", file, file.name);
  request.send(form);
}

function sendTus(file, row, chunkBytes) {
  const upload = new tus.Upload(file, {
    endpoint: "/tus/",
    chunkSize: chunkBytes, // one PATCH per chunk: below a proxy's body limit
    retryDelays: [0, 1000, 3000, 5000, 10000],
    metadata: { filename: file.name, filetype: file.type || "application/octet-stream" },
    headers: uploadHeaders(),
    removeFingerprintOnSuccess: true,
    onAfterResponse: (request, response) => {
      const deleteUrl = response.getHeader("X-Url-Delete"); // the creation's reply
      const location = response.getHeader("Location");
      if (request.getMethod() === "POST" && deleteUrl && location) {
        row.deleteUrl = deleteUrl;
        setPendingDelete(new URL(location, window.location.href).href, deleteUrl);
      }
    },
    onProgress: (sent, total) => row.sending(total ? sent / total : 1),
    onChunkComplete: (_chunk, accepted, total) => {
      row.confirmed = total ? accepted / total : 0;
    },
    onError: (error) => {
      const response = error.originalResponse;
      row.fail(response ? reason(response.getStatus(), response.getBody()) : error.message);
    },
    onSuccess: () => {
      setPendingDelete(upload.url, null);
      follow(upload.url.split("/").pop(), row);
    },
  });
  // A file dropped again after a cut connection continues from the server's offset.
  upload.findPreviousUploads().then((previous) => {
    if (previous.length) {
      upload.resumeFromPreviousUpload(previous[0]);
      row.deleteUrl = pendingDeletes()[previous[0].uploadUrl] || null;
    }
    upload.start();
  });
}

async function uploadAll(files) {
  const chosen = Array.from(files);
  const started = Date.now(); // one time for the whole drop: its order is by place
  const rowsOfFiles = chosen.map((file, place) => Row.sending(file, started, place));
  list.prepend(...rowsOfFiles.map((row) => row.node)); // newest on top, in the order chosen
  const { chunkBytes } = await server;
  chosen.forEach((file, index) => {
    const row = rowsOfFiles[index];
    const resumable = file.size > Math.min(MULTIPART_LIMIT, chunkBytes);
    if (resumable) sendTus(file, row, chunkBytes);
    else sendForm(file, row);
  });
}

fileInput.addEventListener("change", () => {
  uploadAll(fileInput.files);
  fileInput.value = "";
});

byId("clear-history").addEventListener("click", () => {
  saveHistory([]);
  for (const row of list.querySelectorAll(".upload.done, .upload.deleted, .upload.failed")) row.remove();
});

// Dropped anywhere on the page counts; outside the zone the browser would open the file.
for (const name of ["dragenter", "dragover"]) {
  document.addEventListener(name, (event) => {
    event.preventDefault();
    dropZone.classList.add("over");
  });
}
document.addEventListener("dragleave", (event) => {
  if (!event.relatedTarget) dropZone.classList.remove("over");
});
document.addEventListener("drop", (event) => {
  event.preventDefault();
  dropZone.classList.remove("over");
  uploadAll(event.dataTransfer.files);
});

for (const entry of remembered()) Row.remembered(entry);
historyTools.hidden = remembered().length === 0;
