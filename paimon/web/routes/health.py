"""Liveness and readiness, for Render's health check, Docker and load balancers."""

from __future__ import annotations

from flask import Blueprint

from paimon.web.context import services

bp = Blueprint("health", __name__)

# How soon a load balancer or client may ask again after a 503: checks are cheap, and a
# spool that has room again or a backend that is back is seen at once.
READINESS_RETRY_SECONDS = 5


@bp.get("/healthz")
def healthz():
    """Alive: the worker answers. Touches nothing else, so it stays fast."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """Ready: the spool has room, the job store and the storage backend answer."""
    results = services().overview.readiness()
    checks = {r.name: {"ok": r.ok, "detail": r.detail} for r in results}
    failed = [r.name for r in results if not r.ok]
    if failed:
        body = {"status": "unavailable", "failed": failed, "checks": checks}
        return body, 503, {"Retry-After": str(READINESS_RETRY_SECONDS)}
    return {"status": "ready", "checks": checks}
