"""The owner's view of webhook deliveries, until the console (issue 33) shows them:
``GET /webhooks/deliveries`` lists them (attempts, last status, next try) and ``POST
/webhooks/deliveries/<id>/resend`` sends one again. Both need PAIMON_METRICS_TOKEN, the
operator's token (an upload token is not it), and answer 404 on a server without it
or without webhooks: a "send again" must never be open."""

from __future__ import annotations

import time

from flask import Blueprint, jsonify, request

from paimon.jobs.outbox import DeliveryNotFound, DeliveryState
from paimon.jobs.store import StateConflict
from paimon.web.auth import METRICS_TOKEN, check_token
from paimon.web.context import services
from paimon.web.errors import ApiError
from paimon.webhooks.sender import WebhookSender

bp = Blueprint("webhooks", __name__)
PAGE = 50


def _sender() -> WebhookSender:
    sender, digests = services().webhooks, services().metrics_token_digests
    if sender is None or not digests:
        raise ApiError(
            "not_found",
            "No webhook deliveries here: the server needs PAIMON_WEBHOOK_URLS and "
            "PAIMON_METRICS_TOKEN for this view.",
        )
    check_token(digests=digests, messages=METRICS_TOKEN)
    return sender


@bp.get("/webhooks/deliveries")
def deliveries():
    sender = _sender()
    wanted = request.args.get("state") or None
    if wanted is not None and wanted not in set(DeliveryState):
        raise ApiError("bad_request", "state must be pending, sent or failed.")
    listed = sender.store.list_deliveries(
        state=DeliveryState(wanted) if wanted else None, limit=PAGE
    )
    counts = sender.store.delivery_counts()
    return jsonify(
        counts={str(state): count for state, count in counts.items()},
        deliveries=[delivery.public_view() for delivery in listed],
    )


@bp.post("/webhooks/deliveries/<delivery_id>/resend")
def resend(delivery_id: str):
    sender = _sender()
    now = time.time()
    try:
        delivery = sender.store.resend_delivery(
            delivery_id, now, now + sender.announcer.retry_seconds
        )
    except DeliveryNotFound:
        raise ApiError("not_found", "No delivery with that id.") from None
    except StateConflict:
        raise ApiError("delivery_in_flight", "The delivery is being sent right now.") from None
    sender.announcer.written.set()
    return jsonify(delivery.public_view()), 202
