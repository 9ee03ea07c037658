"""Accepting an upload: make the spooled bytes durable, hand them to storage."""

from __future__ import annotations

from pathlib import Path

from paimon.services.names import clean_display_name
from paimon.services.spool import Spool
from paimon.storage.base import StorageBackend, StoredFile


class UnknownService(ValueError):
    """The client asked for a storage service this server does not offer."""

    def __init__(self, requested: str, supported: list[str]):
        super().__init__(
            f"Unknown service '{requested}'. This server supports: {', '.join(supported)}."
        )


class UploadService:
    """The upload use case, free of HTTP and of any particular backend."""

    def __init__(self, storage: StorageBackend, spool: Spool):
        self.storage = storage
        self.spool = spool

    @property
    def supported_services(self) -> list[str]:
        return [self.storage.name]

    def check_service(self, requested: str | None) -> None:
        """Raise UnknownService unless ``requested`` is empty or ours."""
        if requested and requested.lower() not in self.supported_services:
            raise UnknownService(requested, self.supported_services)

    def accept(self, spooled: Path, raw_filename: str | None) -> StoredFile:
        """Store a complete, durable spool file; it is gone from the spool on success.

        On failure the spool file stays for the caller to keep or discard.
        """
        stored = self.storage.store(spooled, clean_display_name(raw_filename))
        self.spool.discard(spooled)  # a backend that moved it has already taken it
        return stored
