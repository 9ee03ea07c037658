"""POST /upload: the earlier server's contract (multipart field `file`, JSON reply),
now backed by a durable job; `Prefer: respond-async` answers 202 at once."""

from __future__ import annotations

from flask import Blueprint, request

from paimon.web.auth import require_token
from paimon.web.context import services
from paimon.web.errors import ApiError
from paimon.web.headers import require_media_type
from paimon.web.replies import accepted, finished, prefers_async

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
    parts = request.files.getlist(FIELD)
    if not parts:
        raise ApiError(
            400,
            "missing_file",
            f"No file in the request: send it as multipart/form-data in a field named "
            f"'{FIELD}' (curl -F {FIELD}=@name.ext URL/upload).",
        )
    # A second file part or a nameless one was refused while parsing (paimon/web/forms.py).
    (part,) = parts
    receipt = request.receipt_for(part)
    waits = not prefers_async()
    job = uploads.complete(receipt, wait=waits)
    request.claim(receipt)
    return finished(job) if waits else accepted(job)
