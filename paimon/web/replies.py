"""How a job is shown and answered, shared by POST /upload and the status routes."""

from __future__ import annotations

from urllib.parse import urljoin

from flask import Response, jsonify, request, url_for

from paimon.jobs.model import Job, JobState
from paimon.web.context import services
from paimon.web.errors import ApiError, status_of


def absolute(path: str) -> str:
    """Clients always get a full URL: PAIMON_PUBLIC_URL's, else the request's host."""
    base = services().public_url or request.host_url
    return urljoin(base.rstrip("/") + "/", path.lstrip("/"))


def link_of(job: Job) -> str | None:
    """The backend's own link, or, for a file this server serves, its download route:
    storage knows keys, the web layer knows URLs. (Jobs stored before that carry the
    route itself as their link, as a path.)"""
    if job.removed_at is not None:  # expired, or its downloads used up
        return None
    if job.link:
        return absolute(job.link)
    if job.state is JobState.DONE and job.storage_key:
        return absolute(url_for("files.download", key=job.storage_key))
    return None


def key_apart(job: Job, link: str | None) -> dict[str, str]:
    """A MEGA link split as MEGA's apps offer it, for sending the key by another way:
    ``link_without_key`` + "#" + ``key`` is the link. Nothing for other backends' links,
    which carry no key."""
    if job.backend != "mega" or link is None or "#" not in link:
        return {}
    without_key, key = link.split("#", 1)
    return {"link_without_key": without_key, "key": key}


def job_view(job: Job) -> dict[str, object]:
    view = job.public_view()
    view["link"] = link_of(job)
    view |= key_apart(job, view["link"])  # type: ignore[arg-type]
    view["status_url"] = status_url(job)
    return view


def handed_off_view(job: Job, reference: str) -> dict[str, object]:
    """``job_view``, with the delete link handed off under ``reference`` (the redirect
    of a browser's plain form names it) the one time it is taken."""
    view = job_view(job)
    token = services().deletion.take_handoff(job, reference) if reference else None
    if token:
        view["delete_url"] = delete_url(job, token)
    return view


#: A page that may show a delete link: no cache keeps it, back and forward included.
NO_STORE = {"Cache-Control": "no-store", "Vary": "Accept"}


def status_url(job: Job) -> str:
    return absolute(url_for("status.job_status", job_id=job.id))


def delete_url(job: Job, token: str) -> str:
    return absolute(url_for("delete.delete", job_id=job.id, token=token))


def deleted(job: Job) -> dict[str, object]:
    """The reply to a deletion, by delete link or by upload token."""
    return {
        "status": "deleted",
        "id": job.id,
        "filename": job.filename,
        "message": f"{job.filename} was deleted.",
    }


def prefers_html() -> bool:
    """A browser's own request (a form, a link): Accept prefers HTML to JSON. curl's
    ``*/*`` and fetch's default get JSON."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def prefers_async() -> bool:
    """RFC 7240: `Prefer: respond-async` asks for 202 now instead of waiting."""
    preferences = request.headers.get("Prefer", "").split(",")
    return any(p.split(";")[0].strip().lower() == "respond-async" for p in preferences)


#: Shown in a stored upload's reply when set (Max-Days, Max-Downloads).
KEPT = ("expires_at", "max_downloads")


def upload_entry(
    job: Job, delete_token: str = "", *, at_once: bool = False
) -> tuple[dict[str, object], int]:
    """One upload's reply and its status code: the earlier server's body for a stored
    file (200), an honest error for a failed one, else (or ``at_once``, for a client
    that asked not to wait, whatever the job's state) the job and where to follow it
    (202). Every entry has its ``delete_url``, a failed one's too (its file is kept for
    a retry, which may store it later): only the upload's own reply can tell it (the
    job keeps the token's digest)."""
    body: dict[str, object]
    if job.state is JobState.FAILED and not at_once:
        body = {
            "status": "error",
            "error": job.error_code,
            "message": job.error,
            "retryable": job.retryable,
            "filename": job.filename,
            **{k: v for k, v in job_view(job).items() if k in ("id", "status_url")},
        }
        code = status_of(job.error_code)
    elif job.state is JobState.DONE and not at_once:
        body = {
            "status": "success",
            "message": "File uploaded successfully",
            "filename": job.filename,
            "service": job.backend,
            "link": link_of(job),
            **key_apart(job, link_of(job)),
            "size": job.size,
            "id": job.id,
            "sha256": job.sha256,
        }
        body |= {name: getattr(job, name) for name in KEPT if getattr(job, name) is not None}
        code = 200
    else:  # still running: asked to answer at once, or running elsewhere (this worker stops)
        body, code = job_view(job), 202
    if delete_token:
        body["delete_url"] = delete_url(job, delete_token)
    return body, code


def upload_reply(job: Job, delete_token: str = "", *, at_once: bool = False) -> Response:
    """The reply to one upload: its entry, with transfer.sh's ``X-Url-Delete`` and, while
    it runs, ``Location`` (its status)."""
    body, code = upload_entry(job, delete_token, at_once=at_once)
    response = jsonify(body)
    response.status_code = code
    tell_delete_links(response, [body])
    if code == 202:
        response.headers["Location"] = url_for("status.job_status", job_id=job.id)
        if prefers_async():
            response.headers["Preference-Applied"] = "respond-async"
    return response


def tell_delete_links(response: Response, entries: list[dict[str, object]]) -> None:
    """transfer.sh's ``X-Url-Delete``, one header line per file in the entries' order
    (so a text reply, whose body holds only links, tells them too); a reply that tells
    delete links is never stored by a cache."""
    for entry in entries:
        if "delete_url" in entry:
            response.headers.add("X-Url-Delete", str(entry["delete_url"]))
    if "X-Url-Delete" in response.headers:
        response.headers["Cache-Control"] = "no-store"


def uploads_reply(uploads: list[tuple[Job, str]], *, at_once: bool = False) -> Response:
    """The reply to several files in one request: a ``files`` list, one entry per file
    in the request's order, as ``upload_reply`` would answer each. 200 when every file
    is stored, 202 while some run, else the first failed file's status code and error
    (so the reply is also a plain error for a client that reads no further)."""
    entries = [upload_entry(job, token, at_once=at_once) for job, token in uploads]
    failed = [body for body, code in entries if code >= 400]
    code = next((code for _, code in entries if code >= 400), max(code for _, code in entries))
    count = len(entries)
    reply: dict[str, object]
    if failed:
        reply = {
            "status": "error",
            "error": failed[0]["error"],
            "message": f"{len(failed)} of {count} files failed: {failed[0]['message']}",
        }
    else:
        stored = sum(1 for _, code in entries if code == 200)
        if stored == count:
            reply = {"status": "success", "message": f"{count} of {count} files uploaded"}
        else:
            reply = {
                "status": "accepted",
                "message": f"{count} files received, {stored} stored so far: follow each "
                "status_url.",
            }
    response = jsonify({**reply, "files": [body for body, _ in entries]})
    response.status_code = code
    tell_delete_links(response, [body for body, _ in entries])
    if code == 202 and prefers_async():
        response.headers["Preference-Applied"] = "respond-async"
    return response


FORMATS = ("text", "json")


def wants_text(*, by_default: bool) -> bool:
    """`?format=text|json`, else the Accept header, ``by_default`` deciding a tie (curl's
    `*/*`): PUT answers text by default, as transfer.sh does; POST /upload JSON, as the
    earlier server did."""
    if "format" in request.args:
        if request.args["format"] not in FORMATS:
            raise ApiError("bad_format", "'format' must be 'text' or 'json'.")
        return request.args["format"] == "text"
    offers = (
        ["text/plain", "application/json"] if by_default else ["application/json", "text/plain"]
    )
    # No Accept header at all matches nothing: the default, too.
    return (request.accept_mimetypes.best_match(offers) or offers[0]) == "text/plain"


def line_of(job: Job) -> str:
    """A job's one useful line of text: the link (stored), the reason and the status
    URL (failed), else the status URL."""
    if job.state is JobState.DONE:
        return str(link_of(job))
    if job.state is JobState.FAILED:
        return f"{job.error}\n{status_url(job)}"
    return status_url(job)


def as_text(reply: Response, jobs: list[Job]) -> Response:
    """``reply``'s status and headers, with one line per job as the body."""
    reply.set_data("".join(f"{line_of(job)}\n" for job in jobs))
    reply.mimetype = "text/plain"
    return reply
