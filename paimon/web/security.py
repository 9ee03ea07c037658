"""The defences every request passes through, wired once by ``register``.

Security headers on every response, upload slots, so no client takes them all
(paimon/web/admission.py), rate limits on starting uploads (paimon/web/ratelimit.py),
and, when links are built from the request's Host header (no PAIMON_PUBLIC_URL), only
the hosts in PAIMON_ALLOWED_HOSTS answered: else `Host: evil.example` would get links
to evil.example. The bound on slow bodies sits
below Flask, in the server package (paimon/server/bodyguard.py); paimon/web/errors.py
answers what it raises. docs/security.md explains what each defends.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, request
from flask_cors import CORS
from werkzeug.wsgi import host_is_trusted

from paimon.web import admission
from paimon.web.context import Services
from paimon.web.errors import ApiError

# Pages load their scripts and styles from files on this server only: no inline
# script runs, no other origin is reached, and no site may frame them.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# Everything else (JSON) is data: if a browser ever renders it, nothing runs.
DATA_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
# A stored file (paimon/web/recipients.py), inline or not, is data too: a sandbox with
# no script, in an origin of its own. The browser's viewer may show the file itself (img-src,
# media-src) and style its own page (Chromium's image viewer sets inline styles).
FILE_CSP = (
    "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; "
    "style-src 'unsafe-inline'; frame-ancestors 'none'"
)
# Audio and video play in a <video> element the browser makes, which fetches the file
# again with CORS: from the sandbox's opaque origin every fetch would be refused, so
# these keep their origin (allow-same-origin). Scripts stay off (no allow-scripts, and
# default-src 'none'), so nothing can use it.
PLAYED_FILE_CSP = FILE_CSP.replace("sandbox;", "sandbox allow-same-origin;", 1)

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000"
#: Health checks come from the platform (Render, Docker) with a Host of its own, and
#: build no link.
ANY_HOST_ENDPOINTS = frozenset({"health.healthz", "health.readyz"})


def security_headers(response: Response) -> Response:
    """Added unless a view set its own value."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    csp = PAGE_CSP if response.mimetype == "text/html" else DATA_CSP
    response.headers.setdefault("Content-Security-Policy", csp)
    if request.is_secure:  # https as seen by a trusted proxy (PAIMON_FORWARDED_ALLOW_IPS)
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def host_guard(allowed: list[str]) -> Callable[[], None]:
    """A before-request hook: 400 ``untrusted_host`` for a Host not in ``allowed``
    (werkzeug's matching: the port is ignored, '.example.com' allows subdomains),
    decided before the body is read."""

    def check_host() -> None:
        if request.endpoint in ANY_HOST_ENDPOINTS or host_is_trusted(request.host, allowed):
            return
        raise ApiError(
            "untrusted_host",
            "This server does not answer for that Host: its links would point there. "
            "The operator can add it to PAIMON_ALLOWED_HOSTS or set PAIMON_PUBLIC_URL.",
        )

    return check_host


#: What a page on an allowed origin may send and read: the token headers, Prefer, and
#: tus's headers, as tus-js-client sends and reads them.
CORS_REQUEST_HEADERS = [
    "Authorization",
    "X-Auth-Token",
    "Content-Type",
    "Prefer",
    "Tus-Resumable",
    "Upload-Length",
    "Upload-Offset",
    "Upload-Metadata",
    "Max-Days",
    "Max-Downloads",
    "X-Request-ID",
]
CORS_EXPOSED_HEADERS = [
    "Location",
    "Preference-Applied",
    "Retry-After",
    "X-Request-ID",
    "X-Url-Delete",
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Expires",
]


def vary_by_origin(response: Response) -> Response:
    """With CORS on, every response depends on the request's Origin (CORS headers for an
    allowed one, none for another or for none): a shared cache must not hand one
    origin's answer to another."""
    response.vary.add("Origin")
    return response


def refuse_invalid_host() -> None:
    """A before-request hook: 400 ``invalid_host`` for a Host header werkzeug does not
    take as a host name (characters a name cannot hold), which it reads as empty: links
    would come out as 'http:///files/...'. Health checks answer whatever they send."""
    if request.host or request.endpoint in ANY_HOST_ENDPOINTS:
        return
    raise ApiError(
        "invalid_host",
        "The Host header is not a valid host name (letters, digits, '.', '-', an optional port).",
    )


def register(app: Flask, services: Services) -> None:
    if services.cors_origins:  # exact origins only (config.exact_origin)
        CORS(
            app,
            origins=services.cors_origins,
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
            methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            max_age=600,
            # No Origin, no CORS headers: Flask-Cors' default sends the allowlist to anyone.
            always_send=False,
            vary_header=False,  # vary_by_origin says it on every response instead
        )
        app.after_request(vary_by_origin)
    app.before_request(refuse_invalid_host)
    if services.allowed_hosts and not services.public_url:
        # Before the limiter's hook, so a refused host spends no rate limit.
        app.before_request(host_guard(services.allowed_hosts))
    # Before the limiter's hook too: an upload refused for want of a slot spends none.
    admission.register(app)
    services.limits.register(app)
    app.after_request(security_headers)
