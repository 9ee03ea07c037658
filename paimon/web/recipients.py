"""What the people who receive a link see (docs/api.md, "Links for the people who
receive them", says why it works this way).

A file that a browser shows without running anything (images, audio, video, PDF) is
served inline under its real type, read from the file's first bytes, never from its
name or from what its uploader sent: its link previews in a browser and unfurls in a
chat, as a ShareX screenshot's should. Everything else (HTML, SVG, XML, scripts, any
type not on the list) stays an ``application/octet-stream`` attachment, and a browser
that opens its link gets the file's page instead: name, size, expiry, downloads left
and a Download button, without counting a download. A file with a download limit is
never inline: a browser gets its page first, so no preview spends a download. A link
that no longer works answers a browser with a page that says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import filetype
from flask import Blueprint, Response, make_response, render_template, request, url_for

from paimon.jobs.model import Job
from paimon.storage.base import ServedFile, StorageError
from paimon.uploads.keeping import used_up, utc_text, why_gone
from paimon.uploads.refusals import UploadRefused
from paimon.web import handlers
from paimon.web.replies import absolute, prefers_html
from paimon.web.security import FILE_CSP, PLAYED_FILE_CSP

OCTET_STREAM = "application/octet-stream"

#: The type filetype reads in a file's first bytes, and the type the file is served
#: inline as. Only formats browsers display without running anything in them.
INLINE_TYPES = {
    "image/png": "image/png",
    "image/apng": "image/png",  # an animated PNG is a PNG to every browser
    "image/jpeg": "image/jpeg",
    "image/gif": "image/gif",
    "image/webp": "image/webp",
    "video/mp4": "video/mp4",
    "video/webm": "video/webm",
    "audio/mpeg": "audio/mpeg",
    "audio/mp4": "audio/mp4",
    "audio/ogg": "audio/ogg",
    "audio/x-flac": "audio/flac",
    "audio/x-wav": "audio/wav",
    "application/pdf": "application/pdf",
}
#: Types a browser plays in a <video> element of its own, which fetches the file again.
PLAYED = ("audio/", "video/")
#: Kinds of file the page shows a preview of (an <img>, <video> or <audio>).
PREVIEWED = ("image", "video", "audio")


#: filetype reads no more than a file's first 8 KiB.
SNIFFED_BYTES = 8192


def safe_type(served: ServedFile) -> str | None:
    """The type ``served`` is shown inline as, from its first 8 KiB; None: not shown."""
    kind = filetype.guess(str(served.path) if served.path else served.head(SNIFFED_BYTES))
    return INLINE_TYPES.get(kind.mime) if kind is not None else None


@dataclass(frozen=True)
class Delivery:
    """How a file link's request is answered: the file's page, or the file itself as
    ``mimetype``, inline or as an attachment."""

    page: bool
    mimetype: str
    inline: bool
    shown: str | None  # the type the file may be shown inline as, if any
    limited: bool  # it has a download limit (Max-Downloads)

    def protect(self, response: Response) -> Response:
        """Whatever the browser makes of it, nothing in the file runs (docs/security.md)."""
        response.headers["X-Content-Type-Options"] = "nosniff"
        played = self.inline and self.mimetype.startswith(PLAYED)
        response.headers["Content-Security-Policy"] = PLAYED_FILE_CSP if played else FILE_CSP
        response.vary.add("Accept")  # a browser may get the page at the same URL
        return response


def delivery(served: ServedFile, job: Job | None) -> Delivery:
    """How to answer this request for ``served``: the file's page for ``?page``, or for
    a browser opening a file it would not be shown; else the file, inline when that is
    safe and it has no download limit, an attachment otherwise or with ``?download``."""
    shown = safe_type(served)
    download = "download" in request.args
    limited = job is not None and job.max_downloads is not None
    inline = shown is not None and not limited and not download
    page = not download and ("page" in request.args or (not inline and prefers_html()))
    return Delivery(page, shown or OCTET_STREAM, inline, shown, limited)


def size_text(size: int) -> str:
    """A size as a person reads it, in the upload page's units (powers of 1000)."""
    value, units = float(size), ("bytes", "KB", "MB", "GB", "TB")
    unit = 0
    while value >= 1000 and unit < len(units) - 1:
        value, unit = value / 1000, unit + 1
    return f"{value:.1f} {units[unit]}" if unit else f"{size} bytes"


def file_page(key: str, served: ServedFile, job: Job | None, answer: Delivery) -> Response:
    """The file's page: what it is, how long it stays, and a Download button (the
    link with ``?download``). Showing it counts no download; a file whose downloads
    are used up gets the page that says so."""
    if job is not None and used_up(job):  # its Download button could not work
        raise UploadRefused("gone", why_gone(job))
    counted = job if job is not None and job.max_downloads is not None else None
    link = url_for("files.download", key=key)
    kind = (answer.shown or "").split("/")[0]
    view = {
        "name": served.filename,
        "size": served.size,
        "size_text": size_text(served.size),
        "expires": utc_text(job.expires_at) if job and job.expires_at else None,
        "max_downloads": counted.max_downloads if counted else None,
        "downloads_left": counted.max_downloads - counted.downloads if counted else None,
        "url": absolute(link),
        "link": link,
        "download_url": f"{link}?download",
        # Previewed only when the link itself shows the file: nothing here is counted.
        "preview": kind if kind in PREVIEWED and not answer.limited else None,
    }
    response = make_response(render_template("file.html", file=view))
    response.headers["Cache-Control"] = "no-store"  # the downloads left change
    response.vary.add("Accept")
    return response


#: A refusal's heading on a page, by where it was asked (the blueprint) and its kind.
HEADINGS = {
    ("files", "not_found"): "No file at this link",
    ("files", "gone"): "This file is no longer here",
    ("delete", "not_found"): "Nothing to delete",
    ("delete", "upload_in_progress"): "Not finished yet",
}
#: What a person is told instead of the JSON's message, where it can say more.
EXPLANATIONS = {
    ("files", "not_found"): "This link leads to no file: its uploader deleted it, or the "
    "link is not whole (check that it was copied to its last character). Paimon keeps "
    "nothing of a deleted file, so it cannot tell which.",
}


def refusal_page(error: str, message: str, status: int) -> Response:
    """A refusal as a page in the upload page's style, with the JSON's status code."""
    where = (request.blueprint or "", error)
    response = make_response(
        render_template(
            "refused.html",
            heading=HEADINGS.get(where, "That did not work"),
            message=EXPLANATIONS.get(where, message),
            error=error,
        ),
        status,
    )
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("Accept")
    return response


def answer_browsers_with_pages(bp: Blueprint) -> None:
    """Refusals on ``bp``'s routes: for a browser (Accept prefers text/html), a page
    made of the JSON's error and message; for everyone else, the JSON."""
    bp.register_error_handler(UploadRefused, _page_or(handlers.refused))
    bp.register_error_handler(StorageError, _page_or(handlers.storage_failed))


def _page_or(json_answer: Callable[[Any], Response]) -> Callable[[Any], Response]:
    def answer(exc: Exception) -> Response:
        body = json_answer(exc)
        if prefers_html():
            said = body.get_json()
            return refusal_page(said["error"], said["message"], body.status_code)
        body.vary.add("Accept")
        return body

    return answer
