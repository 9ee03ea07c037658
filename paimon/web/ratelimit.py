"""Rate limits on starting uploads (Flask-Limiter), per token or per client address, and
on wrong tokens, per client address, on every route that checks one.

Every POST and PUT starts (or retries) an upload, so they share one budget,
``PAIMON_RATE_LIMIT_UPLOADS``; GET, HEAD, PATCH (tus chunks of an upload already
counted), the health and status reads and the owner's console and API are never
limited. The check runs before
the token check and before the body is read, so refusing costs nothing.

The budget is keyed by the token when a valid one is presented, so clients behind one
address (an office, a phone carrier's NAT) do not share it, and otherwise by the
client's address: a wrong or invented token never buys a fresh budget, which also
bounds how fast tokens can be guessed. Wrong tokens on the other routes (tus PATCH,
HEAD and DELETE, which the upload budget leaves alone) count too: each one is spent
from a second budget of the same size, per address, in the same storage, and an
address that used it up gets 429 on every token check until its window ends.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Callable
from functools import cached_property
from typing import TypeVar

from flask import Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter, RateLimiter

from paimon.config import Settings
from paimon.observability.logs import reference
from paimon.web.auth import is_authorized, presented_token
from paimon.web.context import services
from paimon.web.errors import ApiError, error_response

log = logging.getLogger(__name__)
T = TypeVar("T")

LIMITED_METHODS = frozenset({"POST", "PUT"})
#: 64 bits of HMAC per token key: no two configured tokens share a bucket.
TOKEN_KEY_LENGTH = 16
#: The namespace of the wrong-token budgets in the limiter's storage.
GUESSES = "token-guesses"


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


#: The owner's console and API: their posts start no upload (their wrong tokens are
#: still counted as guesses).
OWNER_BLUEPRINTS = frozenset({"admin", "api"})


def _not_an_upload() -> bool:
    return request.method not in LIMITED_METHODS or request.blueprint in OWNER_BLUEPRINTS


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
            application_limits_exempt_when=_not_an_upload,
            storage_uri=redis_url.get_secret_value() if redis_url else "memory://",
            key_prefix="paimon-rate",
            headers_enabled=True,
            # Redis unreachable: count in this process rather than refuse every upload.
            in_memory_fallback_enabled=True,
            enabled=bool(self.settings.rate_limit_uploads),
        )

    @cached_property
    def guess_limits(self) -> list[RateLimitItem]:
        rate = self.settings.rate_limit_uploads
        return parse_many(rate) if rate else []

    def key(self) -> str:
        token = presented_token()
        if token is not None and is_authorized(token, services().token_digests):
            # Names the bucket in Flask-Limiter's log and in Redis: an HMAC under the
            # install's secret, which no one holding only the log can test guesses on.
            return f"token:{reference(token, TOKEN_KEY_LENGTH)}"
        return f"addr:{self.client_address()}"

    def client_address(self) -> str:
        peer = request.remote_addr or ""
        return self.proxies.client_address(peer, request.headers.get("X-Forwarded-For"))

    def check(self) -> None:
        """ClientLimits: 429, with Retry-After, once any window of the address is full."""
        address = self.client_address()
        for item in self.guess_limits:
            wait = self._counted(lambda s, i=item: _seconds_until_room(s, i, address))
            if wait:
                raise ApiError(
                    429,
                    "rate_limited",
                    f"Too many wrong tokens from this address: {item} are allowed; try "
                    "again after the number of seconds in Retry-After.",
                    headers={"Retry-After": str(wait)},
                )

    def spend(self) -> None:
        """ClientLimits: one wrong token from this address."""
        address = self.client_address()
        for item in self.guess_limits:
            self._counted(lambda s, i=item: s.hit(i, GUESSES, address))

    @cached_property
    def _in_memory(self) -> RateLimiter:
        return FixedWindowRateLimiter(MemoryStorage())

    def _counted(self, count: Callable[[RateLimiter], T]) -> T:
        """``count`` in the limiter's storage, or in this process if Redis does not
        answer: as for uploads, a storage outage must not open or close the door."""
        try:
            return count(self.limiter.limiter)
        except Exception:  # the storage's own errors (redis-py's) are not one type
            log.warning("rate limit storage unreachable; counting wrong tokens in memory")
            return count(self._in_memory)

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


def _seconds_until_room(strategy: RateLimiter, item: RateLimitItem, address: str) -> int:
    """0 while the address may still try a token in ``item``'s window."""
    if strategy.test(item, GUESSES, address):
        return 0
    reset = strategy.get_window_stats(item, GUESSES, address).reset_time
    return max(1, math.ceil(reset - time.time()))
