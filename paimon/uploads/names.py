"""Display names: kept as the user sent them, minus what could hurt."""

from __future__ import annotations

import unicodedata

MAX_NAME_CHARS = 255
FALLBACK_NAME = "upload"


def clean_display_name(raw: str | None) -> str:
    """The name shown and stored as an attribute; never used as a path.

    Unicode is kept; directory parts (either slash), control and format characters
    (NUL included) are dropped, and the result is capped at 255 characters.
    """
    if not raw:
        return FALLBACK_NAME
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(ch for ch in base if unicodedata.category(ch) not in ("Cc", "Cf"))
    kept = kept.strip().strip(".")
    return kept[:MAX_NAME_CHARS] or FALLBACK_NAME
