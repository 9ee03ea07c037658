"""Delete links: ``DELETE /delete/<id>/<token>`` (or a POST, from the page a browser
gets) removes the stored object and its job; GET only shows what would be deleted, as
link previews and prefetchers send GETs."""

from __future__ import annotations

from flask import Blueprint, render_template

from paimon.web.context import services
from paimon.web.recipients import answer_browsers_with_pages
from paimon.web.replies import NO_STORE, deleted, job_view, prefers_html

bp = Blueprint("delete", __name__)
answer_browsers_with_pages(bp)  # a link opened again, in a browser: a page says why
RULE = "/delete/<job_id>/<token>"


@bp.get(RULE)
def confirm(job_id: str, token: str):
    """What the link would delete: for a browser (ShareX opens its DeletionURL in one),
    a page with a button that works without JavaScript."""
    job = services().deletion.find_by_delete_link(job_id, token)
    view = job_view(job)
    if prefers_html():
        return render_template("delete.html", job=view, deleted=False), NO_STORE
    return {
        "id": job.id,
        "filename": job.filename,
        "state": view["state"],
        "message": "Send DELETE (or POST) to this URL to delete the upload.",
    }, NO_STORE


@bp.route(RULE, methods=["DELETE", "POST"])
def delete(job_id: str, token: str):
    job = services().deletion.delete_stored(job_id, token)
    if prefers_html():
        return render_template("delete.html", job=job_view(job), deleted=True)
    return deleted(job)
