"""GET /files/<key>: downloads of locally stored files, with range support; each
response that carries the file's first byte counts against the upload's Max-Downloads.
Browsers may get the file's page instead, and see safe types inline
(paimon/web/recipients.py)."""

from __future__ import annotations

from flask import Blueprint, Response, redirect, request, send_file

from paimon.storage.base import ServedFile
from paimon.web.context import services
from paimon.web.recipients import Delivery, answer_browsers_with_pages, delivery, file_page

bp = Blueprint("files", __name__)
answer_browsers_with_pages(bp)


def counts_as_download(response: Response) -> bool:
    """The response carries the file's first byte: the whole file, or a range that
    resolved to start at 0 (``bytes=0-``, and a suffix such as ``bytes=-5000`` that
    covers the file), read from the Content-Range sent; not a resumed range, a HEAD or
    a 304."""
    if request.method != "GET":
        return False
    if response.status_code == 206:
        sent = response.content_range
        return sent is not None and sent.start == 0
    return response.status_code == 200


def served_response(stored: ServedFile, answer: Delivery) -> Response:
    """The file, with Range and conditional requests: a local file as send_file serves
    it; an object (S3) through its seekable reader, whose size, ETag and time come from
    the backend, since send_file knows the size of no file object but a BytesIO."""
    local = stored.path is not None
    response = send_file(
        stored.path if local else stored.reader(),  # type: ignore[arg-type, misc]
        mimetype=answer.mimetype,
        as_attachment=not answer.inline,
        download_name=stored.filename,
        conditional=local,  # Range and If-None-Match
        etag=True if local else (stored.etag or False),
        last_modified=stored.modified,
    )
    if not local:
        response.content_length = stored.size
        response.make_conditional(request.environ, accept_ranges=True, complete_length=stored.size)
    return response


@bp.get("/files/<key>")
def download(key: str):
    keeper = services().keeper
    stored, job = keeper.download(key)
    answer = delivery(stored, job)
    if answer.page:
        return file_page(key, stored, job, answer)
    if stored.redirect and not answer.limited:  # counted downloads always go through here
        return redirect(stored.redirect, 302)
    response = served_response(stored, answer)
    if job is not None and counts_as_download(response):
        try:
            keeper.count_download(job)
        except BaseException:
            response.close()  # the file send_file opened
            raise
    return answer.protect(response)
