"""POST /upload: the earlier server's contract (multipart field `file`, JSON reply)."""

from __future__ import annotations

from urllib.parse import urljoin

from flask import Blueprint, request

from paimon.api.auth import require_token
from paimon.api.context import services
from paimon.api.errors import ApiError
from paimon.services.spool import Spool
from paimon.storage.base import StoredFile

bp = Blueprint("upload", __name__)

FIELD = "file"


def absolute_link(stored: StoredFile) -> str:
    """Backends may return a path; clients always get a full URL."""
    base = services().settings.public_url or request.host_url
    return urljoin(base.rstrip("/") + "/", stored.link.lstrip("/"))


@bp.post("/upload")
@require_token
def upload():
    uploads = services().uploads
    uploads.check_service(request.args.get("service"))
    parts = request.files.getlist(FIELD)
    if not parts:
        raise ApiError(
            400,
            "missing_file",
            f"No file in the request: send it as multipart/form-data in a field named "
            f"'{FIELD}' (curl -F {FIELD}=@name.ext URL/upload).",
        )
    if len(parts) > 1:
        raise ApiError(400, "too_many_files", "Send one file per request.")
    part = parts[0]
    if not part.filename:
        raise ApiError(400, "missing_filename", "The file part has no filename.")
    stored = uploads.accept(Spool.make_durable(part.stream), part.filename)
    return {
        "status": "success",
        "message": "File uploaded successfully",
        "filename": stored.filename,
        "service": uploads.storage.name,
        "link": absolute_link(stored),
        "size": stored.size,
    }
