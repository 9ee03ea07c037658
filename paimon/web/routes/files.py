"""GET /files/<key>: downloads of locally stored files, with range support; each
download from the first byte counts against the upload's Max-Downloads."""

from __future__ import annotations

from flask import Blueprint, request, send_file

from paimon.web.context import services

bp = Blueprint("files", __name__)


def counts_as_download() -> bool:
    """A GET from the first byte: a resumed range (or a HEAD) is the same download."""
    if request.method != "GET":
        return False
    wanted = request.range
    return wanted is None or wanted.ranges[0][0] == 0


@bp.get("/files/<key>")
def download(key: str):
    stored = services().keeper.download(key, counted=counts_as_download())
    response = send_file(
        stored.path,
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=stored.filename,
        conditional=True,  # Range and If-None-Match
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
