"""Upload links, ``/u/<token>``: opened in a browser, a page to upload through; ``POST``
takes a multipart body as ``POST /upload`` does, ``PUT /u/<token>/<filename>`` a raw
one as ``PUT /upload/<filename>`` does; no other token is needed, and nothing else is
reachable through the link. Its limits are checked, and its use counted, before the
body is read (paimon/uploads/uploadlinks.py); a link that is used up, expired or
revoked answers 410, with a page saying which for a browser."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask import Blueprint, Response, render_template, request

from paimon.uploads.refusals import UploadRefused
from paimon.web.context import services
from paimon.web.errors import status_of
from paimon.web.headers import requested_keep, require_media_type
from paimon.web.placement import check_query, place
from paimon.web.replies import (
    as_text,
    prefers_async,
    prefers_html,
    upload_reply,
    wants_text,
)
from paimon.web.routes.upload import FIELD, FORM_TYPE, answers_at_once, form_reply

bp = Blueprint("uploadlinks", __name__)
RULE = "/u/<token>"
F = TypeVar("F", bound=Callable[..., object])


def pages_for_browsers(view: F) -> F:
    """A refusal answered with a small page for a browser (scripts keep the JSON)."""

    @wraps(view)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return view(*args, **kwargs)
        except UploadRefused as refused:
            if not prefers_html():
                raise
            page = render_template("link_refused.html", refused=refused)
            return page, status_of(refused.error), {"Vary": "Accept", "Cache-Control": "no-store"}

    return wrapper  # type: ignore[return-value]


@bp.get(RULE)
@pages_for_browsers
def page(token: str):
    """The link's upload page, with what it still takes; JSON for scripts."""
    links = services().upload_links
    link = links.open(token)
    if prefers_html():
        body = render_template("upload_link.html", link=link, per_request=_per_request(link))
        return body, {"Vary": "Accept", "Cache-Control": "no-store"}
    return {
        "label": link.label,
        "expires_at": link.expires_at,
        "files_left": link.files_left(),
        "bytes_left": link.bytes_left(),
        "max_file_bytes": link.max_file_bytes,
        "max_days": link.max_days,
    }, {"Vary": "Accept", "Cache-Control": "no-store"}


def _per_request(link) -> int:
    return services().upload_links.files_allowed(link, services().max_files_per_request)


@bp.post(RULE)
@pages_for_browsers
def post(token: str) -> Response:
    """A multipart body through the link: one file and the body's length are taken from
    the link before it is read; the body's other files once it is in."""
    wired = services()
    links = wired.upload_links
    link = links.open(token)
    require_media_type(FORM_TYPE, f"A POST's body (the files in the field '{FIELD}')")
    text = wants_text(by_default=False)
    keep = links.keep(link, requested_keep())
    wired.uploads.check_can_accept(None, request.content_length, keep)
    check_query()
    claim = links.claim(link, request.content_length, one_file=False)
    try:
        request.file_limit = _per_request(claim.link)
        request.origin = links.origin(link)
        incoming = request.spooled_uploads(FIELD)
        links.check_files(link, [upload.writer.bytes_written for upload in incoming])
        claim.more_files(len(incoming) - 1)
        at_once = answers_at_once()
        jobs = wired.uploads.complete_all(
            incoming, wait=not at_once, keep=links.keep(link, requested_keep(request.form))
        )
        claim.keep(sum(job.size or 0 for job in jobs))
    except BaseException:
        claim.give_back()
        raise
    return form_reply(jobs, [upload.delete_token for upload in incoming], at_once, text)


@bp.put(f"{RULE}/<filename>")
def put(token: str, filename: str) -> Response:
    """A raw body through the link: its length (Content-Length) is checked against the
    link's limits, and taken from them, before it is read."""
    wired = services()
    links = wired.upload_links
    link = links.open(token)
    text = wants_text(by_default=True)
    keep = links.keep(link, requested_keep())
    length = request.content_length
    wired.uploads.check_can_accept(None, length, keep)
    claim = links.claim(link, length, one_file=True)
    try:
        incoming = wired.uploads.receive(
            request.stream,
            filename,
            length,
            wired.identity.key(),
            keep,
            place(links.origin(link), bundles=False).origin,
        )
        job = wired.uploads.complete(incoming, wait=not prefers_async())
        claim.keep(job.size if job.size is not None else incoming.writer.bytes_written)
    except BaseException:
        claim.give_back()
        raise
    reply = upload_reply(job, incoming.delete_token)
    reply.vary.add("Accept")
    return as_text(reply, [job]) if text else reply
