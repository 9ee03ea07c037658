"""Local-disk storage: the embedded default, no credentials needed.

The spool file is renamed into place (same filesystem), so bytes are written once
while they stream in and never copied again.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import secrets
from pathlib import Path

from paimon.storage.base import (
    Checkpoint,
    FoldersAsMetadata,
    ProgressCallback,
    QuotaExceeded,
    ServedFile,
    StorageError,
    StorageUnavailable,
    StorageUsage,
    StoredFile,
)

log = logging.getLogger(__name__)


class LocalStorage(FoldersAsMetadata):
    """Keeps files under ``<root>/<key>`` with a ``<key>.json`` sidecar for the name."""

    name = "local"

    def __init__(self, root: Path):
        self.root = root

    def store(
        self,
        source: Path,
        filename: str,
        on_progress: ProgressCallback | None = None,
        *,
        job_id: str | None = None,
        resumed: bool = False,
        checkpoint: Checkpoint | None = None,
        folder: str | None = None,
    ) -> StoredFile:
        """The spool file renamed into the files directory: the rename is the object's
        creation and moves the source away, so a later attempt has nothing to store
        twice (``job_id``, ``resumed`` and ``checkpoint`` need no record here). A
        ``folder`` is kept in the sidecar, as metadata: files stay in one directory.
        A folder that cannot be written fails the job as a storage error (kept for a
        retry; a full disk as ``storage_full``), its path in the log, not the reply."""
        key = secrets.token_urlsafe(16)  # 128 random bits: the link is the secret
        size = source.stat().st_size
        meta = self.root / f"{key}.json"
        record: dict[str, object] = {"filename": filename, "size": size}
        if folder is not None:
            record["folder"] = folder
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            meta.write_text(json.dumps(record), encoding="utf-8")
            source.replace(self.root / key)
        except OSError as exc:
            with contextlib.suppress(OSError):  # the sidecar, if it got written
                meta.unlink(missing_ok=True)
            log.error("Storage folder %s cannot be written: %s", self.root, exc)
            if exc.errno == errno.ENOSPC:
                raise QuotaExceeded("The storage disk is full.") from None
            raise StorageUnavailable(
                f"The storage folder cannot be written ({exc.strerror}); the upload is "
                "kept for a retry."
            ) from None
        _fsync_dir(self.root)
        if on_progress:
            on_progress(size)
        return StoredFile(key=key, filename=filename, size=size, link=None)

    def open(self, key: str) -> ServedFile | None:
        """The stored object for ``key``, or None when there is none."""
        if not _is_key(key):
            return None
        path = self.root / key
        try:
            meta = json.loads((self.root / f"{key}.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        if not path.is_file():
            return None
        return ServedFile(path=path, filename=meta["filename"], size=meta["size"])

    def delete(self, key: str) -> None:
        """Remove the object and its sidecar; an unknown key is not an error."""
        if _is_key(key):
            (self.root / key).unlink(missing_ok=True)
            (self.root / f"{key}.json").unlink(missing_ok=True)

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"Storage folder {self.root} cannot be created: {exc.strerror}"
            ) from None
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"Storage folder {self.root} is not writable.")

    def usage(self) -> StorageUsage | None:
        """Not tracked: the disk's own free space is what readiness watches."""
        return None


def _is_key(key: str) -> bool:
    """Keys are token_urlsafe(16): 22 URL-safe characters, never a path."""
    return len(key) == 22 and all(c.isalnum() or c in "-_" for c in key)


def _fsync_dir(path: Path) -> None:
    """Make a rename durable: fsync the directory that holds the new name."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
