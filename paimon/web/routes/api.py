"""The owner's JSON API under /api/, with an admin token as a bearer header
(paimon/web/owners.py): every upload, newest first, filtered and searched, in pages
read with a cursor; one upload, its deletion and retry; totals and storage; upload
links made, listed and revoked; webhook deliveries listed and sent again. docs/api.md
describes each."""

from __future__ import annotations

from flask import Blueprint, g, request

from paimon.web import deliveryviews, owners
from paimon.web.admission import sends_body
from paimon.web.consoleviews import (
    job_query,
    link_spec_from_json,
    link_view,
    storage_view,
    totals_view,
    upload_view,
)
from paimon.web.context import services
from paimon.web.errors import ApiError
from paimon.web.headers import require_media_type
from paimon.web.replies import deleted, upload_reply

bp = Blueprint("api", __name__, url_prefix="/api")
bp.before_request(owners.require_console)
bp.before_request(owners.check_api_owner)


@bp.after_request
def _no_store(response):
    """Owner-only answers (links, names, labels) are kept by no cache."""
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/uploads")
def uploads():
    page = services().console.uploads(job_query(request.args))
    return {
        "uploads": [upload_view(job) for job in page.jobs],
        "next": page.next.encode() if page.next else None,
    }


@bp.get("/uploads/<job_id>")
def upload(job_id: str):
    return upload_view(services().console.upload(job_id))


@bp.delete("/uploads/<job_id>")
def delete(job_id: str):
    return deleted(services().console.delete(job_id, "api"))


@bp.post("/uploads/<job_id>/retry")
def retry(job_id: str):
    return upload_reply(services().console.retry(job_id))


@bp.get("/totals")
def totals():
    wired = services()
    return totals_view(wired.console.totals()) | {"storage": storage_view(wired.console.storage())}


@bp.get("/upload-links")
def upload_links():
    return {"upload_links": [link_view(link) for link in services().upload_links.all()]}


#: A new link's JSON body: a few short fields.
MAX_LINK_BODY_BYTES = 16 * 1024


@bp.post("/upload-links")
def create_upload_link():
    if request.content_length is None and sends_body():
        raise ApiError("length_required", "Send the JSON body with a Content-Length.")
    if request.content_length and request.content_length > MAX_LINK_BODY_BYTES:
        raise ApiError("too_large", f"The body may be at most {MAX_LINK_BODY_BYTES} bytes.")
    body = None
    if request.content_length:
        require_media_type("application/json", "POST /api/upload-links' body")
        body = request.get_json(silent=True)
        if body is None:
            raise ApiError("bad_upload_link", "The body is not JSON.")
    link, _ = services().upload_links.create(link_spec_from_json(body), g.who)
    return {"status": "created", **link_view(link)}, 201


@bp.delete("/upload-links/<link_id>")
def revoke_upload_link(link_id: str):
    link = services().upload_links.revoke(link_id)
    return {"status": "revoked", **link_view(link)}


@bp.get("/webhooks/deliveries")
def webhook_deliveries():
    deliveries = deliveryviews.configured()
    return deliveryviews.listing(deliveries, deliveryviews.wanted_state(request.args))


@bp.post("/webhooks/deliveries/<delivery_id>/resend")
def resend_webhook_delivery(delivery_id: str):
    return deliveryviews.resend(deliveryviews.configured(), delivery_id).public_view(), 202
