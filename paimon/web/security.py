"""The defences every request passes through, wired once by ``register``.

Security headers on every response and rate limits on starting uploads
(paimon/web/ratelimit.py). The bound on slow bodies sits below Flask, in the server
package (paimon/server/bodyguard.py); paimon/web/errors.py answers what it
raises. docs/security.md explains what each defends.
"""

from __future__ import annotations

from flask import Flask, Response, request

from paimon.web.ratelimit import UploadLimits

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


def register(app: Flask, limits: UploadLimits) -> None:
    limits.register(app)
    app.after_request(security_headers)
