"""Configured tokens and who holds them: ``PAIMON_AUTH_TOKENS`` (uploaders) and
``PAIMON_ADMIN_TOKENS`` (owners).

Each entry may carry a label, ``label=token``: a label of letters, digits, ``-`` and
``_``, then a token of at least 16 characters. An entry that does not read that way (a
generated token with ``=`` in it, a short one) is a bare token, as before labels, and
is known by ``<kind>-`` and 6 hex digits of its HMAC under the install's secret (the
reference the logs use). The console and the logs show the label, never the token;
only SHA-256 digests of the tokens are kept, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from paimon.observability.logs import reference

LABELLED = re.compile(r"(?P<label>[A-Za-z0-9_-]{1,64})=(?P<token>.{16,})", re.DOTALL)
BARE_LABEL_DIGITS = 6


def split_entry(entry: str) -> tuple[str | None, str]:
    """A configured entry's label (None for a bare token) and its token."""
    labelled = LABELLED.fullmatch(entry)
    if labelled is None:
        return None, entry
    return labelled["label"], labelled["token"]


@dataclass(frozen=True)
class Holder:
    """Who holds one configured token: its label, and the digest it is known by."""

    label: str
    digest: bytes
    folder: str | None = None  # where its uploads go when they name none


def token_digest(token: str) -> bytes:
    """What a configured token is known by: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode()).digest()


def presented_digest(token: str) -> bytes | None:
    """The digest of the bytes the client sent.

    WSGI decodes headers as latin-1, so encoding back to latin-1 recovers the raw bytes
    (a UTF-8 token then matches its configured value). A character latin-1 cannot hold
    never came from the wire and matches nothing.
    """
    try:
        return hashlib.sha256(token.encode("latin-1")).digest()
    except UnicodeEncodeError:
        return None


class TokenBook:
    """The tokens of one kind and their holders."""

    def __init__(
        self, entries: list[SecretStr], kind: str, folders: Mapping[str, str] | None = None
    ):
        self.holders: list[Holder] = []
        for entry in entries:
            label, token = split_entry(entry.get_secret_value())
            shown = label or f"{kind}-{reference(token, BARE_LABEL_DIGITS)}"
            folder = (folders or {}).get(label) if label else None
            self.holders.append(Holder(shown, token_digest(token), folder))

    def __bool__(self) -> bool:
        return bool(self.holders)

    @property
    def digests(self) -> list[bytes]:
        return [holder.digest for holder in self.holders]

    def holder(self, presented: str) -> Holder | None:
        """The holder of the token a client presented, if it is one of these. Every
        digest is compared, so timing does not tell which one matched."""
        digest = presented_digest(presented)
        if digest is None:
            return None
        matches = [hmac.compare_digest(digest, holder.digest) for holder in self.holders]
        return next((h for h, hit in zip(self.holders, matches, strict=True) if hit), None)

    def holds(self, digest_reference: str) -> Holder | None:
        """The holder whose digest has this reference (a session names the owner's
        token so; a token no longer configured ends its sessions)."""
        for holder in self.holders:
            if hmac.compare_digest(reference(holder.digest.hex(), 32), digest_reference):
                return holder
        return None
