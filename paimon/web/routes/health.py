"""Liveness and readiness, for Render's health check, Docker and load balancers."""

from __future__ import annotations

from flask import Blueprint

from paimon.web.context import services
from paimon.web.handlers import error_response

bp = Blueprint("health", __name__)


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
    if failed:  # 503 `not_ready`, with Retry-After: the error table's
        message = f"Not ready: {', '.join(failed)} failed (see checks)."
        return error_response("not_ready", message, failed=failed, checks=checks)
    degraded = [r.name for r in results if r.warning]
    if degraded:  # still ready, but worth a look (the storage account nearly full)
        return {"status": "ready", "degraded": degraded, "checks": checks}
    return {"status": "ready", "checks": checks}
