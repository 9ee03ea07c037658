"""The defences every request passes through, wired once by ``register``.

Security headers on every response, rate limits on starting uploads
(paimon/api/ratelimit.py), a bound on slow bodies (paimon/api/bodyguard.py), and JSON
answers for the refusals those raise. docs/security.md explains what each defends.
"""

from __future__ import annotations

from flask import Flask, Response, request

from paimon.api.bodyguard import BodyGuard, BodyTimeout
from paimon.api.errors import error_response
from paimon.api.ratelimit import UploadLimits
from paimon.config import Settings

# Pages load their scripts and styles from files on this server only: no inline
# script runs, no other origin is reached, and no site may frame them.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# Everything else (JSON, downloads) is data: if a browser ever renders it, nothing runs.
DATA_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000"


def security_headers(response: Response) -> Response:
    """Added unless a view set its own value."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    csp = PAGE_CSP if response.mimetype == "text/html" else DATA_CSP
    response.headers.setdefault("Content-Security-Policy", csp)
    if request.is_secure:  # https as seen by a trusted proxy (PAIMON_FORWARDED_ALLOW_IPS)
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def register(app: Flask, settings: Settings) -> None:
    app.wsgi_app = BodyGuard(app.wsgi_app, settings.body_timeout_seconds)  # type: ignore[method-assign]
    UploadLimits(settings).register(app)
    app.after_request(security_headers)

    @app.errorhandler(BodyTimeout)
    def _too_slow(exc: BodyTimeout):
        return error_response(408, "body_too_slow", exc.description or "")
