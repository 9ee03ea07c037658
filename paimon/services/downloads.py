"""Finding a stored file to send back, for backends that serve their own files."""

from __future__ import annotations

from paimon.storage.base import ServedFile, ServesDownloads, StorageBackend


def find_download(storage: StorageBackend, key: str) -> ServedFile | None:
    """The file behind a download link, or None (unknown key, or a remote backend)."""
    if isinstance(storage, ServesDownloads):
        return storage.open(key)
    return None
