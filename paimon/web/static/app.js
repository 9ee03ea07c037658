// The upload page: drop or pick files; each is sent to Paimon (multipart with
// `Prefer: respond-async`, or resumable tus above TUS_THRESHOLD), then its job is
// followed at /status/<id> until the storage has it and the link is shown.
"use strict";

const TUS_THRESHOLD = 8 * 1024 * 1024;
const POLL_MS = 500;
const TOKEN_KEY = "paimon-token";

const tokenRow = document.getElementById("token-row");
const tokenInput = document.getElementById("token");
const dropZone = document.getElementById("drop-zone");
const fileInput = document.getElementById("files");
const list = document.getElementById("uploads");
let rows = 0;

tokenInput.value = localStorage.getItem(TOKEN_KEY) || "";
tokenInput.addEventListener("input", () => localStorage.setItem(TOKEN_KEY, tokenInput.value.trim()));

fetch("/status", { headers: { Accept: "application/json" } })
  .then((reply) => reply.json())
  .then((status) => {
    tokenRow.hidden = status.auth !== "token";
  })
  .catch(() => {}); // the page works without it; uploads report their own errors

function authHeaders() {
  const token = tokenInput.value.trim();
  return token ? { Authorization: `Bearer ${token}` } : {};
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

/** One file's row: two progress bars, then the link or the reason it failed. */
class Row {
  constructor(file) {
    this.id = `upload-${(rows += 1)}`;
    this.name = file.name;
    this.sent = this.leg("sent", "To Paimon");
    this.stored = this.leg("stored", "To storage");
    this.node = element(
      "li",
      { className: "upload", id: this.id },
      element("h2", {}, file.name, " ", element("span", { className: "muted" }, `(${formatBytes(file.size)})`)),
      this.sent.node,
      this.stored.node,
    );
    list.append(this.node);
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

  done(link) {
    this.progress(this.stored, 1);
    const field = element("input", { id: `${this.id}-link`, readOnly: true, value: link });
    field.setAttribute("aria-label", `Link to ${this.name}`);
    const copy = element("button", { type: "button", textContent: "Copy link" });
    copy.dataset.copy = field.id;
    this.node.append(element("p", { className: "link" }, field, copy));
    this.node.classList.add("done");
  }

  fail(message) {
    this.node.append(element("p", { className: "error", role: "alert" }, `Failed: ${message}`));
    this.node.classList.add("failed");
  }
}

/** The message of a JSON error reply, or a sentence about the status code. */
function reason(status, text) {
  try {
    const body = JSON.parse(text);
    if (body.message) {
      if (status === 401 || status === 403) tokenRow.hidden = false;
      return body.message;
    }
  } catch {
    // not JSON: a proxy's page, say
  }
  return status ? `the server answered ${status}.` : "the connection to the server was lost.";
}

/** Follow the job until the storage has the file (the second leg). */
async function follow(jobId, row) {
  row.progress(row.sent, 1);
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
      if (job.state === "done") return row.done(job.link);
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
  for (const [name, value] of Object.entries(authHeaders())) request.setRequestHeader(name, value);
  request.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) row.progress(row.sent, event.loaded / event.total);
  });
  request.addEventListener("load", () => {
    if (request.status === 202 || request.status === 200) {
      follow(JSON.parse(request.responseText).id, row);
    } else {
      row.fail(reason(request.status, request.responseText));
    }
  });
  request.addEventListener("error", () => row.fail(reason(0, "")));
  const form = new FormData();
  form.append("file", file, file.name);
  request.send(form);
}

function sendTus(file, row) {
  const upload = new tus.Upload(file, {
    endpoint: "/tus/",
    retryDelays: [0, 1000, 3000, 5000, 10000],
    metadata: { filename: file.name, filetype: file.type || "application/octet-stream" },
    headers: authHeaders(),
    removeFingerprintOnSuccess: true,
    onProgress: (sent, total) => row.progress(row.sent, total ? sent / total : 1),
    onError: (error) => {
      const response = error.originalResponse;
      row.fail(response ? reason(response.getStatus(), response.getBody()) : error.message);
    },
    onSuccess: () => follow(upload.url.split("/").pop(), row),
  });
  // A file dropped again after a cut connection continues from the server's offset.
  upload.findPreviousUploads().then((previous) => {
    if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
    upload.start();
  });
}

function uploadAll(files) {
  for (const file of files) {
    const row = new Row(file);
    (file.size > TUS_THRESHOLD ? sendTus : sendForm)(file, row);
  }
}

fileInput.addEventListener("change", () => {
  uploadAll(fileInput.files);
  fileInput.value = "";
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
