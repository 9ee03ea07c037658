"""Rate limits on starting uploads (Flask-Limiter), per token or per client address.

Every POST and PUT starts (or retries) an upload, so they share one budget,
``PAIMON_RATE_LIMIT_UPLOADS``; GET, HEAD, PATCH (tus chunks of an upload already
counted) and the health and status reads are never limited. The check runs before
the token check and before the body is read, so refusing costs nothing.

The budget is keyed by the token when a valid one is presented, so clients behind one
address (an office, a phone carrier's NAT) do not share it, and otherwise by the
client's address: a wrong or invented token never buys a fresh budget, which also
bounds how fast tokens can be guessed.
"""

from __future__ import annotations

import ipaddress
from functools import cached_property

from flask import Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded

from paimon.config import Settings
from paimon.web.auth import is_authorized, presented_digest, presented_token
from paimon.web.context import services
from paimon.web.errors import error_response

LIMITED_METHODS = frozenset({"POST", "PUT"})


class TrustedProxies:
    """The peers whose X-Forwarded-For names the client (``PAIMON_FORWARDED_ALLOW_IPS``).

    Gunicorn applies that setting to the scheme headers only and always reports the
    peer as REMOTE_ADDR: behind Render's proxy every client would share the proxy's
    address. The same list decides here whether X-Forwarded-For is believed.
    """

    def __init__(self, allow_ips: str):
        entries = [entry.strip() for entry in allow_ips.split(",") if entry.strip()]
        self.everyone = "*" in entries
        self.networks = [ipaddress.ip_network(e, strict=False) for e in entries if e != "*"]

    def trusts(self, peer: str) -> bool:
        if self.everyone:
            return True
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def client_address(self, peer: str, forwarded_for: str | None) -> str:
        """The address the nearest trusted proxy saw: the last X-Forwarded-For entry,
        the one that proxy appended (earlier ones are whatever the client claimed)."""
        if forwarded_for and self.trusts(peer):
            return forwarded_for.rsplit(",", 1)[-1].strip() or peer
        return peer


RETRY_AFTER_STATUSES = frozenset({429, 503})


def _retry_after_only_when_refused(response: Response) -> Response:
    if response.status_code not in RETRY_AFTER_STATUSES:
        response.headers.pop("Retry-After", None)
    return response


class UploadLimits:
    """The Limiter for one app, and the key it counts by."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.proxies = TrustedProxies(settings.forwarded_allow_ips)

    @cached_property
    def limiter(self) -> Limiter:
        redis_url = self.settings.redis_url
        return Limiter(
            self.key,
            application_limits=[self.settings.rate_limit_uploads],
            application_limits_exempt_when=lambda: request.method not in LIMITED_METHODS,
            storage_uri=redis_url.get_secret_value() if redis_url else "memory://",
            key_prefix="paimon-rate",
            headers_enabled=True,
            # Redis unreachable: count in this process rather than refuse every upload.
            in_memory_fallback_enabled=True,
            enabled=bool(self.settings.rate_limit_uploads),
        )

    def key(self) -> str:
        token = presented_token()
        if token is not None and is_authorized(token, services().token_digests):
            digest = presented_digest(token) or b""
            # A prefix of the digest: names the bucket in Flask-Limiter's log and in
            # Redis without giving away anything that helps recover the token.
            return f"token:{digest.hex()[:16]}"
        peer = request.remote_addr or ""
        return f"addr:{self.proxies.client_address(peer, request.headers.get('X-Forwarded-For'))}"

    def register(self, app: Flask) -> None:
        # Registered before the limiter's own hook, so it runs after it (Flask runs
        # after_request hooks last-registered first): the limiter sets Retry-After on
        # every reply, which async clients read as "poll again in N seconds".
        app.after_request(_retry_after_only_when_refused)
        self.limiter.init_app(app)

        @app.errorhandler(RateLimitExceeded)
        def _rate_limited(exc: RateLimitExceeded):
            # Flask-Limiter adds Retry-After to this response on its way out.
            return error_response(
                429,
                "rate_limited",
                f"Too many uploads: this server accepts {exc.limit.limit} per client; "
                "try again after the number of seconds in Retry-After.",
            )
