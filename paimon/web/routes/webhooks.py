"""The operator's view of webhook deliveries: ``GET /webhooks/deliveries`` lists them
(attempts, last status, next try) and ``POST /webhooks/deliveries/<id>/resend`` sends one
again. Both need PAIMON_METRICS_TOKEN, the operator's token (an upload token is not
it), and answer 404 on a server without it or without webhooks: a "send again" must
never be open. The owner has the same in the console (``/admin/webhooks``) and the API
(``/api/webhooks/deliveries``); all three are deliveryviews.py's."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from paimon.web import deliveryviews
from paimon.web.auth import METRICS_TOKEN, check_token
from paimon.web.context import services
from paimon.web.errors import ApiError
from paimon.webhooks.deliveries import Deliveries

bp = Blueprint("webhooks", __name__)


def _deliveries() -> Deliveries:
    if services().deliveries is None or not services().metrics_token_digests:
        raise ApiError(
            "not_found",
            "No webhook deliveries here: the server needs PAIMON_WEBHOOK_URLS and "
            "PAIMON_METRICS_TOKEN for this view.",
        )
    check_token(digests=services().metrics_token_digests, messages=METRICS_TOKEN)
    return deliveryviews.configured()


@bp.get("/webhooks/deliveries")
def deliveries():
    owner = _deliveries()
    return jsonify(deliveryviews.listing(owner, deliveryviews.wanted_state(request.args)))


@bp.post("/webhooks/deliveries/<delivery_id>/resend")
def resend(delivery_id: str):
    return jsonify(deliveryviews.resend(_deliveries(), delivery_id).public_view()), 202
