"""Redis's failures as the job store's own, for both halves of the Redis store: the
jobs (redis.py) and the webhook outbox (redis_outbox.py). A URL is never quoted whole
(it may hold a password)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis

from paimon.jobs.store import StoreUnavailable

T = TypeVar("T")


def reachable(method: Callable[..., T]) -> Callable[..., T]:
    """Redis's connection errors and timeouts as StoreUnavailable: the store, not the
    request, failed."""

    @functools.wraps(method)
    def call(self: Any, *args: object, **kwargs: object) -> T:
        try:
            return method(self, *args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(
                f"the Redis job store at {location(self._url)} is unreachable: {type(exc).__name__}"
            ) from None

    return call


def location(url: str) -> str:
    """Where a Redis URL points, without its credentials: safe for messages."""
    try:
        parts = urlsplit(url)
        if parts.scheme == "unix":
            return parts.path
        return f"{parts.hostname}:{parts.port or 6379}"
    except ValueError:
        return "an unparsable URL"
