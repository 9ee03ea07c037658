"""POST /upload: the earlier server's contract (multipart field `file`, JSON reply),
now backed by durable jobs, one per file; `Prefer: respond-async` answers 202 at once."""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, request, url_for

from paimon.jobs.model import Job
from paimon.web.auth import require_token
from paimon.web.context import services
from paimon.web.errors import ApiError
from paimon.web.headers import requested_keep, require_media_type
from paimon.web.placement import check_query, with_folder_link
from paimon.web.replies import (
    NO_STORE,
    as_text,
    handed_off_view,
    prefers_async,
    prefers_html,
    upload_reply,
    uploads_reply,
    wants_text,
)

bp = Blueprint("upload", __name__)

FIELD = "file"
FORM_TYPE = "multipart/form-data"


@bp.post("/upload")
@bp.post("/upload/")
@require_token
def upload():
    # Before the body: werkzeug would read any other form (urlencoded) whole into memory.
    require_media_type(FORM_TYPE, f"POST /upload's body (the files in the field '{FIELD}')")
    text = wants_text(by_default=False)  # a bad ?format= is refused before the body
    uploads = services().uploads
    # The headers' wishes before the body; the form's fields come with it (before or
    # after the files), so each file's limits are set once the body is all here.
    uploads.check_can_accept(request.args.get("service"), request.content_length, requested_keep())
    check_query()
    incoming = request.spooled_uploads(FIELD)
    keep = requested_keep(request.form)
    at_once = answers_at_once()
    jobs = uploads.complete_all(incoming, wait=not at_once, keep=keep)
    return form_reply(jobs, [upload.delete_token for upload in incoming], at_once, text)


def answers_at_once() -> bool:
    """Whether a multipart request is answered once its body is in (``Prefer:
    respond-async``): not a bundle, whose folder link is made once its files are in."""
    bundle = request.placement is not None and request.placement.bundle
    return prefers_async() and not bundle


def form_reply(jobs: list[Job], tokens: list[str], at_once: bool, text: bool) -> Response:
    """The reply to a multipart upload (``POST /upload``, ``POST /u/<token>``): a page
    for a plain form in a browser, else JSON (or ``?format=text``) with the folder link
    of a bundle."""
    if prefers_html():  # a plain <form> in a browser: its page, not raw JSON
        return html_reply(jobs, tokens)
    if len(jobs) == 1:  # exactly the earlier server's reply
        reply = upload_reply(jobs[0], tokens[0], at_once=at_once)
    else:
        reply = uploads_reply(list(zip(jobs, tokens, strict=True)), at_once=at_once)
    reply = with_folder_link(reply, request.placement)
    reply.vary.add("Accept")
    return as_text(reply, jobs) if text else reply


def html_reply(jobs: list[Job], tokens: list[str]) -> Response:
    """303 (Post/Redirect/Get: a reload does not send the files again) to a page that
    shows each delete link once: one file's status page, or the page of several. The
    tokens are handed off (paimon/uploads/deletion.py): the address names only the
    reference that opens them, once."""
    reference = services().deletion.hand_off(list(zip(jobs, tokens, strict=True)))
    if len(jobs) == 1:
        target = url_for("status.job_status", job_id=jobs[0].id, handoff=reference)
    else:
        target = url_for("upload.uploaded", id=[job.id for job in jobs], handoff=reference)
    return redirect(target, 303)


@bp.get("/uploaded")
def uploaded():
    """The page a plain form that sent several files is redirected to: each file's
    state and link, and, the first time, its delete link."""
    wired = services()
    reference = request.args.get("handoff", "")
    ids = request.args.getlist("id")[: wired.max_files_per_request]
    found = [job for job in map(wired.uploads.find, ids) if job is not None]
    if not found:
        raise ApiError("not_found", "No upload with those ids.")
    views = [handed_off_view(job, reference) for job in found]
    if prefers_html():
        return render_template("uploaded.html", jobs=views), NO_STORE
    return {"files": views}, NO_STORE
