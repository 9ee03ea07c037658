"""How a job is shown and answered, shared by POST /upload and the status routes."""

from __future__ import annotations

from urllib.parse import urljoin

from flask import Response, jsonify, request, url_for

from paimon.jobs.model import Job, JobState
from paimon.web.context import services
from paimon.web.errors import status_of


def absolute(path: str) -> str:
    """Clients always get a full URL: PAIMON_PUBLIC_URL's, else the request's host."""
    base = services().public_url or request.host_url
    return urljoin(base.rstrip("/") + "/", path.lstrip("/"))


def link_of(job: Job) -> str | None:
    """The backend's own link, or, for a file this server serves, its download route:
    storage knows keys, the web layer knows URLs. (Jobs stored before that carry the
    route itself as their link, as a path.)"""
    if job.link:
        return absolute(job.link)
    if job.state is JobState.DONE and job.storage_key:
        return absolute(url_for("files.download", key=job.storage_key))
    return None


def job_view(job: Job) -> dict[str, object]:
    view = job.public_view()
    view["link"] = link_of(job)
    view["status_url"] = status_url(job)
    return view


def status_url(job: Job) -> str:
    return absolute(url_for("status.job_status", job_id=job.id))


def delete_url(job: Job, token: str) -> str:
    return absolute(url_for("delete.delete", job_id=job.id, token=token))


def with_delete_link(body: dict[str, object], job: Job, token: str) -> Response:
    """``body`` as JSON with ``delete_url``, and transfer.sh's ``X-Url-Delete`` header:
    only the upload's own reply can tell them (the job keeps the token's digest)."""
    if not token:
        return jsonify(body)
    url = delete_url(job, token)
    response = jsonify({**body, "delete_url": url})
    response.headers["X-Url-Delete"] = url
    return response


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


def accepted(job: Job, delete_token: str = "") -> Response:
    """202 with the job and where to follow it."""
    response = with_delete_link(job_view(job), job, delete_token)
    response.status_code = 202
    response.headers["Location"] = url_for("status.job_status", job_id=job.id)
    if prefers_async():
        response.headers["Preference-Applied"] = "respond-async"
    return response


def finished(job: Job, delete_token: str = "") -> Response:
    """The earlier server's reply for a stored file (with its delete link), or an honest
    error for a failed one."""
    if job.state is JobState.DONE:
        body: dict[str, object] = {
            "status": "success",
            "message": "File uploaded successfully",
            "filename": job.filename,
            "service": job.backend,
            "link": link_of(job),
            "size": job.size,
            "id": job.id,
            "sha256": job.sha256,
        }
        return with_delete_link(body, job, delete_token)
    if job.state is JobState.FAILED:
        response = jsonify(
            {
                "status": "error",
                "error": job.error_code,
                "message": job.error,
                "retryable": job.retryable,
                **{k: v for k, v in job_view(job).items() if k in ("id", "status_url")},
            }
        )
        response.status_code = status_of(job.error_code)
        return response
    return accepted(job, delete_token)  # still running elsewhere (this worker stops)
