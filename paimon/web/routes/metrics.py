"""GET /metrics: Prometheus' text format, the same whichever worker answers; behind
PAIMON_METRICS_TOKEN when it is set."""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST

from paimon.observability.metrics import exposition
from paimon.web.auth import METRICS_TOKEN, check_token
from paimon.web.context import services

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    check_token(digests=services().metrics_token_digests, messages=METRICS_TOKEN)
    deliveries = services().deliveries
    counts = deliveries.counts if deliveries is not None else None
    return Response(
        exposition(services().overview.job_counts, counts, storage_space),
        content_type=CONTENT_TYPE_LATEST,
    )


def storage_space() -> dict[str, int] | None:
    """The account's space by kind, for ``paimon_storage_space_bytes``."""
    space = services().overview.storage_space()
    if space is None:
        return None
    return {
        "used": space.used_bytes,
        "total": space.total_bytes,
        "promised": space.promised_bytes,
        "free": space.free_bytes,
    }
