"""POST /upload: the earlier server's contract (multipart field `file`, JSON reply),
now backed by a durable job; `Prefer: respond-async` answers 202 at once."""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for

from paimon.web.auth import require_token
from paimon.web.context import services
from paimon.web.headers import require_media_type
from paimon.web.replies import accepted, finished, prefers_async, prefers_html

bp = Blueprint("upload", __name__)

FIELD = "file"
FORM_TYPE = "multipart/form-data"


@bp.post("/upload")
@bp.post("/upload/")
@require_token
def upload():
    # Before the body: werkzeug would read any other form (urlencoded) whole into memory.
    require_media_type(FORM_TYPE, f"POST /upload's body (the file in the field '{FIELD}')")
    uploads = services().uploads
    uploads.check_can_accept(request.args.get("service"), request.content_length)
    waits = not prefers_async()
    with request.spooled_upload(FIELD) as incoming:
        job = uploads.complete(incoming, wait=waits)
    token = incoming.delete_token
    if prefers_html():  # a plain <form> in a browser: its page, not raw JSON (303: GET it)
        # The page shows the delete link when it is handed the token (the job has only
        # its digest); Referrer-Policy: no-referrer keeps it from leaving with a click.
        return redirect(url_for("status.job_status", job_id=job.id, delete=token), 303)
    return finished(job, token) if waits else accepted(job, token)
