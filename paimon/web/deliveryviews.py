"""What the three owner's views of webhook deliveries (``/webhooks/deliveries`` with
the metrics token, ``/api/webhooks/deliveries`` with an admin token, and the console's
``/admin/webhooks``) read from a request and show: one listing and one "send again",
with the same answers for a bad state, an unknown id or an attempt in flight. The rules
themselves are paimon/webhooks/deliveries.py's."""

from __future__ import annotations

import time
from collections.abc import Mapping

from paimon.jobs.outbox import Delivery, DeliveryNotFound, DeliveryState
from paimon.jobs.store import StateConflict
from paimon.web.context import services
from paimon.web.errors import ApiError
from paimon.webhooks.deliveries import Deliveries


def configured() -> Deliveries:
    """The deliveries' use cases; 404 ``not_found`` on a server without webhooks."""
    deliveries = services().deliveries
    if deliveries is None:
        raise ApiError(
            "not_found", "No webhook deliveries here: the server has no PAIMON_WEBHOOK_URLS."
        )
    return deliveries


def wanted_state(args: Mapping[str, str]) -> DeliveryState | None:
    """``?state=pending|sent|failed``; none (or empty) is every state."""
    wanted = args.get("state") or None
    if wanted is not None and wanted not in set(DeliveryState):
        raise ApiError("bad_request", "state must be pending, sent or failed.")
    return DeliveryState(wanted) if wanted else None


def listing(deliveries: Deliveries, state: DeliveryState | None) -> dict[str, object]:
    """``{"counts": {state: n}, "deliveries": [the newest, each its public view]}``."""
    return {
        "counts": {str(state): count for state, count in deliveries.counts().items()},
        "deliveries": [delivery.public_view() for delivery in deliveries.newest(state)],
    }


def resend(deliveries: Deliveries, delivery_id: str) -> Delivery:
    """Send one again; 404 ``not_found``, or 409 ``delivery_in_flight``."""
    try:
        return deliveries.resend(delivery_id)
    except DeliveryNotFound:
        raise ApiError("not_found", "No delivery with that id.") from None
    except StateConflict:
        raise ApiError("delivery_in_flight", "The delivery is being sent right now.") from None


def when_text(timestamp: float) -> str:
    """A delivery's time on the console, to the second (retries are seconds apart)."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))
