"""GET /status and GET /ping, kept compatible with the earlier server's clients."""

from __future__ import annotations

from flask import Blueprint

from paimon import __version__
from paimon.api.context import services

bp = Blueprint("status", __name__)


@bp.get("/status")
def status():
    wired = services()
    return {
        "status": "running",
        "version": __version__,
        "service": "paimon",
        "storage": wired.storage.name,
        "supported_services": wired.uploads.supported_services,
        "auth": "token" if wired.token_digests else "open",
    }


@bp.get("/ping")
def ping():
    return {"message": "Server running"}
