"""Upload links (file requests): a URL through which someone without a token may upload,
within limits the owner set (how many files, how large, how many bytes in all, until
when). Both job stores keep them beside the jobs, so every worker of every instance
counts one link's use in one place; ``claim_link`` is compare-and-add, atomic in each
store: of many uploads at once, exactly as many as the link allows are let in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal, Protocol

#: Why a claim was refused: the link was revoked, has expired, or would pass its count
#: of files or of bytes.
Refusal = Literal["revoked", "expired", "files", "bytes"]


@dataclass(frozen=True)
class UploadLink:
    """One upload link and its use so far. The URL's token is not kept, only its digest
    (the token itself sealed, for the owner's console to show the URL again)."""

    id: str
    token_digest: str  # SHA-256 of the URL's token, hex: how a request finds its link
    label: str | None = None
    created_at: float = field(default_factory=time.time)
    created_by: str | None = None  # the label of the owner who made it
    expires_at: float | None = None
    max_files: int | None = None
    max_file_bytes: int | None = None
    max_total_bytes: int | None = None
    max_days: float | None = None  # the longest its uploads are kept
    folder: str | None = None  # the MEGA folder its uploads go to
    files: int = 0  # files taken through it (claimed and not given back)
    bytes: int = 0  # bytes taken through it
    revoked_at: float | None = None
    sealed_token: str | None = None  # the token, sealed under the install's secret

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def files_left(self) -> int | None:
        return None if self.max_files is None else max(0, self.max_files - self.files)

    def bytes_left(self) -> int | None:
        return None if self.max_total_bytes is None else max(0, self.max_total_bytes - self.bytes)


class LinkNotFound(KeyError):
    """No upload link with that id."""


class LinkRefused(Exception):
    """A claim the link does not allow (``reason``); ``link`` is the link as it stood."""

    def __init__(self, reason: Refusal, link: UploadLink):
        super().__init__(f"upload link {link.id}: {reason}")
        self.reason: Refusal = reason
        self.link = link


class UploadLinkStore(Protocol):
    """Upload links as a job store keeps them (both stores implement it)."""

    def create_link(self, link: UploadLink) -> None:
        """Store a new link (its id and token digest must be new)."""
        ...

    def get_link(self, link_id: str) -> UploadLink | None: ...

    def find_link(self, token_digest: str) -> UploadLink | None:
        """The link whose URL token has this digest."""
        ...

    def list_links(self) -> list[UploadLink]:
        """Every link, revoked ones too, newest first."""
        ...

    def claim_link(self, link_id: str, files: int, nbytes: int, now: float) -> UploadLink:
        """Count ``files`` more files and ``nbytes`` more bytes against the link, if it
        is not revoked or expired at ``now`` and stays within its ``max_files`` and
        ``max_total_bytes``; the link as counted. LinkRefused (the first reason that
        holds, in that order) or LinkNotFound otherwise. Atomic across every worker and
        instance."""
        ...

    def release_link(self, link_id: str, files: int, nbytes: int) -> None:
        """Give back what a claim took (never below zero): an upload that did not
        complete, or bytes claimed for a body that held fewer. A negative count adds
        instead, never refused: the bytes a body of unknown length turned out to hold."""
        ...

    def revoke_link(self, link_id: str, now: float) -> UploadLink | None:
        """Revoke a link (no more uploads through it); None when there is none. A link
        revoked already keeps its first revocation time."""
        ...
