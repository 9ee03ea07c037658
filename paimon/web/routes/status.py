"""GET /status and GET /ping (kept compatible with the earlier server's clients),
and the status of single upload jobs."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from paimon import __version__
from paimon.uploads.keeping import utc_text
from paimon.web.auth import acting_client, require_token
from paimon.web.context import services
from paimon.web.errors import ApiError
from paimon.web.replies import NO_STORE, deleted, handed_off_view, prefers_html, upload_reply

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
        "tus_chunk_bytes": wired.tus_chunk_bytes,
        "jobs": {str(state): count for state, count in wired.overview.job_counts().items()},
    }
    usage = wired.overview.storage_usage()
    if usage is not None:
        reply["storage_usage"] = {"used_bytes": usage.used_bytes, "total_bytes": usage.total_bytes}
        space = wired.overview.storage_space()
        if space is not None:  # what admission counts: free, less what uploads were promised
            reply["storage_usage"] |= {  # type: ignore[operator]
                "free_bytes": space.free_bytes,
                "promised_bytes": space.promised_bytes,
            }
    return reply


@bp.get("/status/<job_id>")
def job_status(job_id: str):
    job = services().uploads.find(job_id)
    if job is None:
        raise ApiError("not_found", "No upload with that id.")
    # A plain form's upload is redirected here with the reference of its handed-off
    # delete link (never the token): the page, or the JSON, shows the link once.
    view = handed_off_view(job, request.args.get("handoff", ""))
    # A browser (Accept prefers HTML) gets a small page; everyone else the JSON.
    if prefers_html():
        return render_template("status.html", job=view), NO_STORE
    return view, NO_STORE


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
    return upload_reply(services().retries.retry(job_id, acting_client()))


@bp.get("/ping")
def ping():
    return {"message": "Server running"}
