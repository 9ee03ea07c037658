"""Upload tokens: Bearer or the legacy X-Auth-Token, compared by hash in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask import request
from pydantic import SecretStr

from paimon.api.context import services
from paimon.api.errors import ApiError

F = TypeVar("F", bound=Callable[..., object])


def token_digests(tokens: list[SecretStr]) -> list[bytes]:
    """Only digests are kept for comparison, never the tokens themselves."""
    return [hashlib.sha256(t.get_secret_value().encode()).digest() for t in tokens]


def _presented_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("X-Auth-Token") or None


def is_authorized(token: str, digests: list[bytes]) -> bool:
    presented = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
    # Compare against every digest so timing does not tell which one matched.
    matches = [hmac.compare_digest(presented, digest) for digest in digests]
    return any(matches)


def require_token(view: F) -> F:
    """401 without a token, 403 with a wrong one; open when no token is configured."""

    @wraps(view)
    def wrapper(*args: object, **kwargs: object) -> object:
        digests = services().token_digests
        if digests:
            token = _presented_token()
            if token is None:
                raise ApiError(
                    401,
                    "token_required",
                    "This server needs an upload token: send it as "
                    "'Authorization: Bearer <token>' or 'X-Auth-Token: <token>'.",
                )
            if not is_authorized(token, digests):
                raise ApiError(403, "token_rejected", "The upload token is not valid.")
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
