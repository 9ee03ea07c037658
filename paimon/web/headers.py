"""Request headers read strictly, before any byte of the body.

Numbers in headers (Upload-Length, Upload-Offset, and the like) are ASCII digits only:
``str.isdigit()`` is true for ``²`` or ``٣``, which ``int()`` then refuses or reads as
something the client did not write. A body is taken only in the media types its route
reads: anything else is refused before it is read, so no parser ever holds one in
memory (werkzeug reads an urlencoded form whole).
"""

from __future__ import annotations

import re

from flask import request

from paimon.web.errors import ApiError

_DIGITS = re.compile(r"[0-9]{1,19}", re.ASCII)  # 19 digits: below 2**63, whatever follows


def header_int(name: str) -> int:
    """A required non-negative integer header; 400 naming the header otherwise."""
    value = request.headers.get(name, "")
    if _DIGITS.fullmatch(value) is None:
        raise ApiError(
            400,
            "bad_header",
            f"'{name}' must be a non-negative integer in ASCII digits (at most 19 of them).",
        )
    return int(value)


def require_media_type(accepted: str, what: str) -> None:
    """415 naming the one media type ``what`` (e.g. 'A PATCH body') accepts."""
    if request.mimetype != accepted:
        raise ApiError(415, "unsupported_media_type", f"{what} must be '{accepted}'.")
