"""GET /metrics: Prometheus' text format, the same whichever worker answers."""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST

from paimon.observability.metrics import exposition
from paimon.web.context import services

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    return Response(exposition(services().overview.job_counts), content_type=CONTENT_TYPE_LATEST)
