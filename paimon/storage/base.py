"""The storage interface: the one seam between accepting bytes and keeping them.

Modelled on tusd's data stores: the HTTP layer and the services know nothing about
where bytes go. A backend takes a finished spool file and returns where it now lives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

#: Called with the number of bytes the backend has acknowledged so far; raises
#: StoreCancelled when the caller gives the transfer up.
ProgressCallback = Callable[[int], None]
#: Blocks until a growing spool file holds at least this many bytes; raises if it
#: never will (the client went away), or BodySizeChanged.
WaitForBytes = Callable[[int], None]


class BodySizeChanged(Exception):
    """Raised by a WaitForBytes: the body is complete, but its size is not the one the
    transfer was started with (that size was a guess: see StoresWhileReceiving). The
    file is whole now; a backend starts over with ``size`` and waits no more."""

    def __init__(self, size: int):
        super().__init__(f"the body is complete at {size} bytes, not the size announced")
        self.size = size


class Checkpoint(Protocol):
    """Where a backend keeps what resuming its transfer needs (tusd's upload info), so a
    transfer taken over after its worker died, or handed back at shutdown, continues
    where MEGA stopped acknowledging instead of from byte 0. The caller keeps it with
    the job, sealed (as sensitive as the spool file), never in logs or /status."""

    def load(self) -> str | None:
        """What ``save`` last kept for this job's transfer, if anything."""
        ...

    def save(self, state: str) -> None:
        """Keep ``state`` (opaque to the caller); later saves replace it. May be kept
        a little late: a resumed transfer then sends a little more again."""
        ...

    def resuming(self, offset: int) -> None:
        """The transfer continues from byte ``offset``, sent by an earlier attempt."""
        ...


class StoreCancelled(Exception):
    """Raised by a ProgressCallback: the caller gave the transfer up (its worker is
    stopping, or lost the job). Part of the interface: a backend stops storing and lets
    it out as it is, never wrapped in a StorageError, so the caller knows it for its own.
    """


@dataclass(frozen=True)
class StoredFile:
    """An object a backend has confirmed it holds."""

    key: str  # the backend's own id for the object
    filename: str  # display name, as the user sent it (cleaned)
    size: int
    link: str | None  # the backend's own URL; None: served by Paimon under ``key``


@dataclass(frozen=True)
class StorageUsage:
    used_bytes: int
    total_bytes: int | None


class StorageError(Exception):
    """A backend could not store or reach an object.

    ``message`` is written for a person; ``retryable`` says whether trying the same
    operation later can help (a full account cannot; a dropped connection can).
    """

    retryable = False
    code = "storage_failed"  # the machine-readable kind, kept on a failed job

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class StorageUnavailable(StorageError):
    """The backend cannot be reached or keeps failing transiently."""

    retryable = True


class QuotaExceeded(StorageError):
    """The account or disk is full."""

    code = "storage_full"


class StorageAuthError(StorageError):
    """The backend refused the configured credentials."""


class StorageBackend(Protocol):
    """What every backend implements."""

    name: str  # "local", "mega": also the `service` in API replies

    def store(
        self,
        source: Path,
        filename: str,
        on_progress: ProgressCallback | None = None,
        *,
        job_id: str | None = None,
        resumed: bool = False,
        checkpoint: Checkpoint | None = None,
    ) -> StoredFile:
        """Keep the complete, fsynced spool file ``source``.

        The backend owns ``source`` afterwards only on success: it may move it (local
        disk) or leave it for the caller to delete (remote backends). On failure it
        raises StorageError and leaves ``source`` in place for a retry.

        ``job_id``: the job the object is for. A remote backend records it with the
        object and, when ``resumed`` (an earlier attempt of this job may have created
        the object before it could be recorded), adopts an object of that job instead
        of making a second one: one object per job. ``checkpoint``: where a backend
        whose transfers can resume keeps what it needs to.
        """
        ...

    def delete(self, key: str) -> None:
        """Remove the object stored under ``key`` (a delete link, an expiry); one that
        is gone already is not an error. StorageError if the backend cannot be reached."""
        ...

    def check(self) -> None:
        """Raise StorageError when the backend cannot take uploads now (readiness)."""
        ...

    def usage(self) -> StorageUsage | None:
        """Space used and available, when the backend can tell."""
        ...


@dataclass(frozen=True)
class ServedFile:
    """A stored object the server itself can send back: a local file (``path``), or an
    object read through ``reader`` (a seekable file, for Range requests), with its
    ``etag`` and ``modified`` time for conditional requests, and, when the backend hands
    out short-lived URLs of its own, ``redirect`` (PAIMON_S3_DOWNLOADS=redirect)."""

    path: Path | None
    filename: str
    size: int
    reader: Callable[[], BinaryIO] | None = None
    etag: str | None = None
    modified: float | None = None
    redirect: str | None = None

    def head(self, count: int) -> bytes:
        """The object's first ``count`` bytes (its type is guessed from them)."""
        if self.path is not None:
            with self.path.open("rb") as file:
                return file.read(count)
        assert self.reader is not None
        with self.reader() as file:
            return file.read(count)


@runtime_checkable
class ServesDownloads(Protocol):
    """Optional capability (as tusd's extensions are): backends whose files Paimon
    serves itself. Remote backends hand out their own links instead."""

    def open(self, key: str) -> ServedFile | None:
        """The object stored under ``key``, or None when there is none."""
        ...


def served_file(storage: StorageBackend, key: str) -> ServedFile | None:
    """The file behind a download link, or None (unknown key, or a remote backend that
    hands out its own links)."""
    return storage.open(key) if isinstance(storage, ServesDownloads) else None


@runtime_checkable
class StoresWhileReceiving(Protocol):
    """Optional capability: backends that can start storing a spool file while its body
    is still arriving (pipelining), when the final size is known in advance or can be
    guessed (a multipart body's file part). The backend waits for the body's end before
    it commits the object's last bytes; a wrong guess raises BodySizeChanged there."""

    def store_growing(
        self,
        source: Path,
        filename: str,
        size: int,
        wait_for_bytes: WaitForBytes,
        on_progress: ProgressCallback | None = None,
        *,
        job_id: str | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> StoredFile:
        """Like store(), reading ``source`` only as ``wait_for_bytes`` allows (a first
        attempt: nothing to adopt or resume, but its checkpoints count for a later one)."""
        ...


@runtime_checkable
class StoresInFolders(Protocol):
    """Optional capability: backends that can keep an upload in a folder (its request's,
    its upload link's or its token's ``folder``), given to ``store`` and ``store_growing``
    as the keyword ``folder``: a path below the backend's own folder, ``a/b/c``, already
    checked (paimon/uploads/folders.py). MEGA creates it; local disk and S3 keep it as
    the file's metadata (``FoldersAsMetadata``)."""

    def folder_path(self, folder: str) -> str:
        """Where uploads given ``folder`` land, as a person finds it in the backend."""
        ...

    def folder_link(self, folder: str) -> str | None:
        """A public link to ``folder`` and what is in it (``bundle=folder``; MEGA's folder
        export); None when the backend has none (local disk)."""
        ...


class FoldersAsMetadata:
    """StoresInFolders for backends that keep an upload's folder beside the file, as its
    metadata (local disk's sidecar, an S3 object's metadata): files stay under one
    directory or prefix, the folder is shown as given, and each file has its own link."""

    def folder_path(self, folder: str) -> str:
        return folder

    def folder_link(self, folder: str) -> None:
        return None
