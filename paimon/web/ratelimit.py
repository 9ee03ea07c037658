"""Rate limits on starting uploads (Flask-Limiter), per client (identity.py), and on
wrong tokens, per client address, on every route that checks one.

Every POST and PUT starts (or retries) an upload, so they share one budget,
``PAIMON_RATE_LIMIT_UPLOADS``; GET, HEAD, PATCH (tus chunks of an upload already
counted), the health and status reads and the owner's console and API are never
limited. The check runs before
the token check and before the body is read, so refusing costs nothing.

The budget is keyed by the client's identity: its valid token, else its address, so a
wrong or invented token never buys a fresh budget, which also bounds how fast tokens
can be guessed. Wrong tokens on the other routes (tus PATCH, HEAD and DELETE, which the
upload budget leaves alone) count too: each one is spent from a second budget of the
same size, per address, in the same storage, and an address that used it up gets 429
on every token check until its window ends.
"""

from __future__ import annotations

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

from paimon.web.errors import ApiError
from paimon.web.handlers import error_response
from paimon.web.identity import ClientIdentity

log = logging.getLogger(__name__)
T = TypeVar("T")

LIMITED_METHODS = frozenset({"POST", "PUT"})
#: The namespace of the wrong-token budgets in the limiter's storage.
GUESSES = "token-guesses"
#: Where the limiter counts when no shared storage (Redis) is configured.
IN_MEMORY = "memory://"

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
    """The Limiter for one app, and the wrong-token budget of each client address."""

    def __init__(self, identity: ClientIdentity, rate: str, storage_uri: str = IN_MEMORY):
        self.identity = identity
        self.rate = rate  # PAIMON_RATE_LIMIT_UPLOADS; empty: no limit
        self.storage_uri = storage_uri

    @cached_property
    def limiter(self) -> Limiter:
        return Limiter(
            self.identity.key,
            application_limits=[self.rate],
            application_limits_exempt_when=_not_an_upload,
            storage_uri=self.storage_uri,
            key_prefix="paimon-rate",
            headers_enabled=True,
            # Redis unreachable: count in this process rather than refuse every upload.
            in_memory_fallback_enabled=True,
            enabled=bool(self.rate),
        )

    @cached_property
    def guess_limits(self) -> list[RateLimitItem]:
        return parse_many(self.rate) if self.rate else []

    def check(self) -> None:
        """429, with Retry-After, once any window of the client's address is full."""
        address = self.identity.client_address()
        for item in self.guess_limits:
            wait = self._counted(lambda s, i=item: _seconds_until_room(s, i, address))
            if wait:
                raise ApiError(
                    "rate_limited",
                    f"Too many wrong tokens from this address: {item} are allowed; try "
                    "again after the number of seconds in Retry-After.",
                    retry_after=wait,
                )

    def spend(self) -> None:
        """One wrong token from this client's address."""
        address = self.identity.client_address()
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
