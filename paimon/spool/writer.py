"""The spool: where upload bodies land, once, while they stream in."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from paimon.spool.bodies import READ_SIZE
from paimon.storage.base import BodySizeChanged, StorageUnavailable


class ReceiveAborted(Exception):
    """The body being received will never be complete (the client went away)."""


class SpoolUnavailable(StorageUnavailable):
    """The spool's bucket (PAIMON_SPOOL_URL) cannot be reached or refuses us: an upload
    cannot be taken now, and nothing of it was acknowledged (503, Retry-After); a
    transfer reading its spool object fails as a retryable storage failure does, and its
    automatic retry finishes it once the bucket is back."""

    code = "spool_unavailable"


class SpoolFull(Exception):
    """The spool's disk (or the user's quota) filled up while a body arrived."""


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
#: How often a body's progress is reported (SpoolWriter._progress_due).
PROGRESS_BYTES = 1024 * 1024
PROGRESS_FAST_SECONDS = 0.5
PROGRESS_SLOW_SECONDS = 5.0


@contextlib.contextmanager
def disk_full_refused() -> Iterator[None]:
    """Writes in this block that find the disk full raise SpoolFull, which every door
    answers the same way (507), instead of an OSError that would be a 500."""
    try:
        yield
    except OSError as exc:
        if exc.errno in DISK_FULL_ERRNOS:
            raise SpoolFull from None
        raise


def write_all(file: BinaryIO, data: bytes | memoryview) -> None:
    """Write every byte of ``data`` to an unbuffered file (a raw write may take only
    part of it); a full disk as SpoolFull."""
    view = memoryview(data)
    with disk_full_refused():
        while view:
            view = view[file.write(view) :]


class SpoolWriter:
    """A spool file being written: counts and hashes the bytes as they pass.

    werkzeug's form parser (or a PUT handler) writes into it; nothing reads the
    content back to learn its size or digest. A pipelined transfer may read the file
    while it grows, paced by ``wait_for_bytes``; ``expected_size`` is the size it was
    started with (a PUT's Content-Length, or a guess for a multipart file part).
    """

    def __init__(
        self,
        file: BinaryIO,
        on_progress: Callable[[int], None] | None = None,
        expected_size: int | None = None,
    ):
        self._file = file
        self.expected_size = expected_size
        self._sha256 = hashlib.sha256()
        self._on_progress = on_progress
        self._reported_at = 0.0
        self._reported_bytes = 0
        self.bytes_written = 0
        self.path = Path(file.name)
        self.name = file.name  # werkzeug and FileStorage look for .name
        self._grown = threading.Condition()
        self._awaited: list[int] = []  # the byte counts waiters are blocked on
        self._ended = False  # no more bytes will come (finished, or given up)
        self._complete = False  # ended by finish(): every byte of the body is here

    def write(self, data: bytes | memoryview) -> int:
        # The file is unbuffered: a pipelined transfer reads it through its own handle,
        # so each piece must reach the file now, and a buffer (4 KiB, flushed after every
        # write) would only cost memory for each of hundreds of slow bodies.
        write_all(self._file, data)
        self._sha256.update(data)
        with self._grown:
            self.bytes_written += len(data)
            if any(count <= self.bytes_written for count in self._awaited):
                self._grown.notify_all()  # only then: every wake-up costs a GIL hand-over
        now = time.monotonic()
        if self._on_progress and self._progress_due(now):
            self._reported_at, self._reported_bytes = now, self.bytes_written
            self._on_progress(self.bytes_written)
        return len(data)

    def _progress_due(self, now: float) -> bool:
        """Every 0.5 s while the body comes fast (1 MiB since the last report), every 5 s
        while it trickles: each report is a job-store write, and hundreds of phones at
        2 KiB/s must not make that hundreds of writes a second."""
        waited = now - self._reported_at
        if self.bytes_written - self._reported_bytes >= PROGRESS_BYTES:
            return waited >= PROGRESS_FAST_SECONDS
        return waited >= PROGRESS_SLOW_SECONDS

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def tell(self) -> int:
        return self._file.tell()

    def wait_for_bytes(self, count: int) -> None:
        """Block until the file holds ``count`` bytes.

        The wait for the last bytes (``count`` reaches ``expected_size``) also waits for
        the body's end, so a transfer never completes an object the body then outgrows.
        ReceiveAborted if the body never completes; BodySizeChanged if it completes at
        another size than expected.
        """
        last = self.expected_size is not None and count >= self.expected_size
        with self._grown:
            if last:
                self._grown.wait_for(lambda: self._ended)
            else:
                self._awaited.append(count)
                try:
                    self._grown.wait_for(lambda: self._ended or self.bytes_written >= count)
                finally:
                    self._awaited.remove(count)
            if self.bytes_written >= count and not last:
                return
            if not self._complete:
                raise ReceiveAborted(f"the body ended after {self.bytes_written} bytes")
            if self.bytes_written != self.expected_size:
                raise BodySizeChanged(self.bytes_written)

    def _end(self, complete: bool = False) -> None:
        with self._grown:
            # close() after finish() (werkzeug closes a request's files) keeps the body
            # complete: a pipelined transfer still reading it must not be aborted.
            self._ended, self._complete = True, self._complete or complete
            self._grown.notify_all()

    def close(self) -> None:
        """Give the file up (complete bodies are closed by ``finish``). A disk that
        filled up would fail the flush of what is still buffered again; the file is
        discarded then, so that failure is not worth raising."""
        self._end()
        with contextlib.suppress(OSError):
            self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def finish(self, fsync: bool = True) -> tuple[int, str]:
        """The body is complete: its size and digest. Fsynced before anyone is told the
        bytes were received; ``fsync=False`` leaves that to ``Spool.make_durable``, for
        an upload that may never need it (see UploadService.complete, with wait)."""
        self._end(complete=True)
        self._file.flush()
        if fsync:
            os.fsync(self._file.fileno())
        self._file.close()
        return self.bytes_written, self._sha256.hexdigest()


class AppendWriter:
    """A spool file that grows by appending, one request after another (tus PATCHes).

    ``before_write`` is told the bytes written so far before each write and may stop
    the body by raising (a request that lost its lease). Hashes the bytes only when
    ``hashed`` (a body starting at offset 0, whose digest is the whole file's).
    """

    def __init__(self, path: Path, before_write: Callable[[int], None], hashed: bool):
        # Unbuffered: after a failed write nothing is left in a buffer to land later,
        # behind a truncation.
        self._file = path.open("ab", buffering=0)
        self._before_write = before_write
        self.sha256 = hashlib.sha256() if hashed else None
        self.written = 0

    def write(self, data: bytes | memoryview) -> int:
        self._before_write(self.written)
        write_all(self._file, data)
        if self.sha256 is not None:
            self.sha256.update(data)
        self.written += len(data)
        return len(data)

    def truncate(self, size: int) -> None:
        self._file.truncate(size)

    def close(self) -> None:
        """Make what arrived durable, since a resumed upload continues from it."""
        if not self._file.closed:
            os.fsync(self._file.fileno())
            self._file.close()


def file_sha256(path: Path) -> str:
    """The digest of a spool file written in several requests, read back once."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(READ_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


class Spool:
    """Spool files live in one directory, on the same filesystem as local storage.

    Jobs name their spool file by path; the methods that take one (``source``,
    ``offset``, ``appender``, ...) are what an object spool (paimon/spool/objects.py)
    implements as well."""

    PREFIX = "up-"
    #: A transfer may read a spool file while its body still arrives (pipelining).
    readable_while_growing = True
    #: Where the spool is when it is no disk of this machine's (an object spool's
    #: s3:// URL, which the owner's console shows instead of free space).
    bucket_url: str | None = None

    def __init__(self, directory: Path):
        self.directory = directory

    @staticmethod
    def reach() -> str | None:
        """Nothing to reach: a local directory is checked by writing to it (readiness)."""
        return None

    @staticmethod
    def source(spool_path: str) -> Path:
        """What a transfer reads: the spool file itself."""
        return Path(spool_path)

    @staticmethod
    def begin_append(spool_path: str) -> None:
        """A new tus upload: its file exists already (the writer created it)."""

    @staticmethod
    def appender(
        spool_path: str, before_write: Callable[[int], None], hashed: bool, length: int
    ) -> AppendWriter:
        """A tus PATCH appending to the upload's file (``length``: the upload's)."""
        return AppendWriter(Path(spool_path), before_write, hashed)

    @staticmethod
    def offset(spool_path: str) -> int | None:
        """The bytes a tus upload holds: its file's size; None when it is gone."""
        path = Path(spool_path)
        return path.stat().st_size if path.is_file() else None

    @staticmethod
    def sha256(spool_path: str) -> str:
        return file_sha256(Path(spool_path))

    def new_writer(
        self,
        on_progress: Callable[[int], None] | None = None,
        expected_size: int | None = None,
    ) -> SpoolWriter:
        """A fresh, exclusively created spool file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{self.PREFIX}{secrets.token_hex(16)}"
        return SpoolWriter(path.open("xb+", buffering=0), on_progress, expected_size)

    def free_bytes(self) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        return shutil.disk_usage(self.directory).free

    def has_room_for(self, size: int, floor: int) -> bool:
        """The one free-space rule (uploads and readiness): ``size`` more bytes still
        leave ``floor`` (PAIMON_MIN_FREE_BYTES) free."""
        return self.free_bytes() - size >= floor

    @staticmethod
    def make_durable(path: Path | str) -> None:
        """Fsync a spool file written with ``finish(fsync=False)``."""
        with Path(path).open("rb") as file:
            os.fsync(file.fileno())

    def files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return [p for p in self.directory.iterdir() if p.name.startswith(self.PREFIX)]

    @staticmethod
    def delete(path: Path | str) -> None:
        Path(path).unlink(missing_ok=True)
