"""GET /files/<key>: downloads of locally stored files, with range support."""

from __future__ import annotations

from flask import Blueprint, abort, send_file

from paimon.web.context import services

bp = Blueprint("files", __name__)


@bp.get("/files/<key>")
def download(key: str):
    stored = services().overview.download(key)
    if stored is None:
        abort(404, description="No file with that link.")
    response = send_file(
        stored.path,
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=stored.filename,
        conditional=True,  # Range and If-None-Match
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
