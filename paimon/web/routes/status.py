"""GET /status and GET /ping (kept compatible with the earlier server's clients),
and the status of single upload jobs."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from paimon import __version__
from paimon.uploads.deletion import token_matches
from paimon.uploads.keeping import utc_text
from paimon.web.auth import require_token
from paimon.web.context import services
from paimon.web.errors import ApiError
from paimon.web.replies import delete_url, deleted, job_view, prefers_html, upload_reply

bp = Blueprint("status", __name__)


bp.add_app_template_filter(utc_text, "utc")


@bp.get("/status")
def status():
    wired = services()
    reply: dict[str, object] = {
        "status": "running",
        "version": __version__,
        "service": "paimon",
        "storage": wired.overview.storage_name,
        "supported_services": wired.uploads.supported_services,
        "auth": "token" if wired.token_digests else "open",
        "jobs": {str(state): count for state, count in wired.overview.job_counts().items()},
    }
    usage = wired.overview.storage_usage()
    if usage is not None:
        reply["storage_usage"] = {"used_bytes": usage.used_bytes, "total_bytes": usage.total_bytes}
    return reply


@bp.get("/status/<job_id>")
def job_status(job_id: str):
    job = services().uploads.find(job_id)
    if job is None:
        raise ApiError("not_found", "No upload with that id.")
    view = job_view(job)
    # A plain form's upload is redirected here with its delete token (the job keeps only
    # the digest): the page, and the JSON, then show the delete link.
    token = request.args.get("delete", "")
    if token and token_matches(token, job.delete_digest):
        view["delete_url"] = delete_url(job, token)
    # A browser (Accept prefers HTML) gets a small page; everyone else the JSON.
    if prefers_html():
        return render_template("status.html", job=view), {"Vary": "Accept"}
    return view, {"Vary": "Accept"}


@bp.delete("/status/<job_id>")
@require_token
def delete_by_token(job_id: str):
    """An upload token deletes what was uploaded with it (the delete link needs none)."""
    wired = services()
    if not wired.token_digests:
        raise ApiError(
            "delete_link_required",
            "This server has no upload tokens, so nothing was uploaded with one: delete an "
            "upload with its delete link (X-Url-Delete, delete_url).",
        )
    return deleted(wired.deletion.delete_uploaded_by(job_id, wired.identity.key()))


@bp.post("/status/<job_id>/retry")
@require_token
def retry(job_id: str):
    return upload_reply(services().retries.retry(job_id))


@bp.get("/ping")
def ping():
    return {"message": "Server running"}
