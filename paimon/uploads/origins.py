"""Where an upload came from, as the owner's console shows it: the label of the token it
was sent with, or the upload link it came through (and that link's MEGA folder)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    label: str | None = None  # the uploader's token's label (never the token)
    link: str | None = None  # the id of the upload link it came through
    folder: str | None = None  # where in storage that link puts its uploads


#: An upload without a token or link: an open server's, or the owner's own tests.
ANONYMOUS = Origin()
