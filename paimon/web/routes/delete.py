"""Delete links: ``DELETE /delete/<id>/<token>`` (or a POST, from the page a browser
gets) removes the stored object and its job; GET only shows what would be deleted, as
link previews and prefetchers send GETs."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from paimon.uploads.deletion import token_matches
from paimon.web.context import services
from paimon.web.replies import job_view, prefers_html

bp = Blueprint("delete", __name__)
RULE = "/delete/<job_id>/<token>"


@bp.get(RULE)
def confirm(job_id: str, token: str):
    """What the link would delete: for a browser (ShareX opens its DeletionURL in one),
    a page with a button that works without JavaScript."""
    job = services().uploads.find(job_id)
    if job is None or not token_matches(token, job.delete_digest):
        abort(404, description="No upload has this delete link.")
    view = job_view(job)
    if prefers_html():
        return render_template("delete.html", job=view, deleted=False), {"Vary": "Accept"}
    return {
        "id": job.id,
        "filename": job.filename,
        "state": view["state"],
        "message": "Send DELETE (or POST) to this URL to delete the upload.",
    }, {"Vary": "Accept"}


@bp.route(RULE, methods=["DELETE", "POST"])
def delete(job_id: str, token: str):
    job = services().uploads.delete_stored(job_id, token)
    if prefers_html():
        return render_template("delete.html", job=job_view(job), deleted=True)
    return {
        "status": "deleted",
        "id": job.id,
        "filename": job.filename,
        "message": f"{job.filename} was deleted.",
    }
