"""The owner's view of webhook deliveries, until the console (issue 33) shows them:
``GET /webhooks/deliveries`` lists them (attempts, last status, next try) and ``POST
/webhooks/deliveries/<id>/resend`` sends one again. Both need PAIMON_METRICS_TOKEN, the
operator's token (an upload token is not it), and answer 404 on a server without it
or without webhooks: a "send again" must never be open."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from paimon.jobs.outbox import DeliveryNotFound, DeliveryState
from paimon.jobs.store import StateConflict
from paimon.web.auth import METRICS_TOKEN, check_token
from paimon.web.context import services
from paimon.web.errors import ApiError
from paimon.webhooks.deliveries import Deliveries

bp = Blueprint("webhooks", __name__)


def _deliveries() -> Deliveries:
    deliveries, digests = services().deliveries, services().metrics_token_digests
    if deliveries is None or not digests:
        raise ApiError(
            "not_found",
            "No webhook deliveries here: the server needs PAIMON_WEBHOOK_URLS and "
            "PAIMON_METRICS_TOKEN for this view.",
        )
    check_token(digests=digests, messages=METRICS_TOKEN)
    return deliveries


@bp.get("/webhooks/deliveries")
def deliveries():
    owner = _deliveries()
    wanted = request.args.get("state") or None
    if wanted is not None and wanted not in set(DeliveryState):
        raise ApiError("bad_request", "state must be pending, sent or failed.")
    listed = owner.newest(DeliveryState(wanted) if wanted else None)
    return jsonify(
        counts={str(state): count for state, count in owner.counts().items()},
        deliveries=[delivery.public_view() for delivery in listed],
    )


@bp.post("/webhooks/deliveries/<delivery_id>/resend")
def resend(delivery_id: str):
    owner = _deliveries()
    try:
        delivery = owner.resend(delivery_id)
    except DeliveryNotFound:
        raise ApiError("not_found", "No delivery with that id.") from None
    except StateConflict:
        raise ApiError("delivery_in_flight", "The delivery is being sent right now.") from None
    return jsonify(delivery.public_view()), 202
