"""Upload tokens: Bearer or the legacy X-Auth-Token, compared by hash in constant time.

Only SHA-256 digests of the configured tokens are kept; a presented token is hashed and
compared with every digest, and it is never echoed in a reply or written to a log.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask import g, request

from paimon.uploads.origins import Origin
from paimon.web.context import services
from paimon.web.errors import ApiError
from paimon.web.tokens import presented_digest

F = TypeVar("F", bound=Callable[..., object])


def presented_token() -> str | None:
    """The token the client sent, if any: Bearer first, then X-Auth-Token."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("X-Auth-Token") or None


def is_authorized(token: str, digests: list[bytes]) -> bool:
    presented = presented_digest(token)
    if presented is None:
        return False
    # Compare against every digest so timing does not tell which one matched.
    matches = [hmac.compare_digest(presented, digest) for digest in digests]
    return any(matches)


#: What a refusal says: without a token (401), with a wrong one (403).
UPLOAD_TOKEN = (
    "This server needs an upload token: send it as "
    "'Authorization: Bearer <token>' or 'X-Auth-Token: <token>'.",
    "The upload token is not valid.",
)
METRICS_TOKEN = (
    "This server's metrics need its metrics token (PAIMON_METRICS_TOKEN): send it as "
    "'Authorization: Bearer <token>'.",
    "The metrics token is not valid.",
)


def check_token(
    *,
    required: bool = True,
    digests: list[bytes] | None = None,
    messages: tuple[str, str] = UPLOAD_TOKEN,
) -> None:
    """401 without a token (when ``required``), 403 with a wrong one; open when no token
    is configured. ``digests``: the tokens that pass, the upload tokens unless given.
    Every wrong token counts against the client address's budget, and an address past
    it gets 429 before its token is even compared, so guessing is bounded on every
    route that looks at a token."""
    upload = digests is None  # the upload tokens: their holder's label is noted
    if digests is None:
        digests = services().token_digests
    if not digests:
        return
    token = presented_token()
    if token is None:
        if required:
            raise ApiError("token_required", messages[0])
        return
    limits = services().limits
    limits.check()
    holder = services().upload_tokens.holder(token) if upload else None
    if holder is None and (upload or not is_authorized(token, digests)):
        limits.spend()
        raise ApiError("token_rejected", messages[1])
    if holder is not None:
        g.who = holder.label  # for the request log and the upload's origin
        g.folder = holder.folder  # its uploads' default folder (PAIMON_TOKEN_FOLDERS)


def token_origin() -> Origin:
    """An upload's origin as this request's token says: its label, for the console, and
    its default folder."""
    return Origin(label=g.get("who"), folder=g.get("folder"))


def acting_client() -> str | None:
    """Who changes an upload, for the owner check (``paimon.uploads.ownership.made_by``):
    the reference of the request's valid token (checked by ``require_token``) when
    tokens are configured; None on a server without them, where an upload's id is its
    key."""
    return services().identity.key() if services().token_digests else None


def require_token(view: F) -> F:
    """The view runs only for a valid token (``check_token``)."""

    @wraps(view)
    def wrapper(*args: object, **kwargs: object) -> object:
        check_token()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
