"""Request headers read strictly, before any byte of the body.

Numbers in headers (Upload-Length, Upload-Offset, and the like) are ASCII digits only:
``str.isdigit()`` is true for ``²`` or ``٣``, which ``int()`` then refuses or reads as
something the client did not write. A body is taken only in the media types its route
reads: anything else is refused before it is read, so no parser ever holds one in
memory (werkzeug reads an urlencoded form whole).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from flask import request

from paimon.uploads.keeping import Keep
from paimon.web.errors import ApiError

_DIGITS = re.compile(r"[0-9]{1,19}", re.ASCII)  # 19 digits: below 2**63, whatever follows


def header_int(name: str) -> int:
    """A required non-negative integer header; 400 naming the header otherwise."""
    value = request.headers.get(name, "")
    if _DIGITS.fullmatch(value) is None:
        raise ApiError(
            "bad_header",
            f"'{name}' must be a non-negative integer in ASCII digits (at most 19 of them).",
        )
    return int(value)


# Above 0 by their shape, as docs/openapi.yaml's patterns say: days such as 7, 1.5 or
# 0.25 (at most 6 digits each side), a count without leading zeros.
_DAYS = re.compile(r"[1-9][0-9]{0,5}(\.[0-9]{1,6})?|0\.[0-9]{0,5}[1-9]", re.ASCII)
_COUNT = re.compile(r"[1-9][0-9]{0,8}", re.ASCII)
# What a refused value is told, its bounds included.
DAYS_WANTED = "a number of days above 0 and below 1000000 (at most 6 decimals), such as 7 or 0.5"
COUNT_WANTED = "a whole number from 1 to 999999999"


def requested_keep(form: Mapping[str, str] | None = None) -> Keep:
    """What the client asked of how long its upload is kept: transfer.sh's ``Max-Days``
    and ``Max-Downloads`` headers, else a form's ``max_days`` and ``max_downloads``
    fields (empty: not sent, as a form's empty input); 400 naming one out of shape or
    bounds, and the bounds."""
    fields = form or {}
    days = _asked("Max-Days", "max_days", fields, _DAYS, DAYS_WANTED)
    count = _asked("Max-Downloads", "max_downloads", fields, _COUNT, COUNT_WANTED)
    return Keep(
        max_days=None if days is None else float(days),
        max_downloads=None if count is None else int(count),
    )


def _asked(
    header: str, field: str, form: Mapping[str, str], shape: re.Pattern[str], what: str
) -> str | None:
    """The header's value, else the form field's; either one malformed is refused."""
    sent = {f"The header '{header}'": request.headers.get(header)}
    sent[f"The form field '{field}'"] = form.get(field) or None  # empty: not filled in
    for named, value in sent.items():
        if value is not None and shape.fullmatch(value) is None:
            raise ApiError("bad_keep", f"{named} must be {what}.")
    return next((value for value in sent.values() if value is not None), None)


def require_media_type(accepted: str, what: str) -> None:
    """415 naming the one media type ``what`` (e.g. 'A PATCH body') accepts."""
    if request.mimetype != accepted:
        raise ApiError("unsupported_media_type", f"{what} must be '{accepted}'.")
