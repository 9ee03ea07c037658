"""The spool: where upload bodies land, once, while they stream in."""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


class SpoolWriter:
    """A spool file being written: counts and hashes the bytes as they pass.

    werkzeug's form parser (or a PUT handler) writes into it; nothing reads the
    content back to learn its size or digest.
    """

    def __init__(self, file: BinaryIO, on_progress: Callable[[int], None] | None = None):
        self._file = file
        self._sha256 = hashlib.sha256()
        self._on_progress = on_progress
        self._reported_at = 0.0
        self.bytes_written = 0
        self.path = Path(file.name)
        self.name = file.name  # werkzeug and FileStorage look for .name

    def write(self, data: bytes) -> int:
        written = self._file.write(data)
        self._sha256.update(data)
        self.bytes_written += len(data)
        now = time.monotonic()
        if self._on_progress and now - self._reported_at >= 0.5:
            self._reported_at = now
            self._on_progress(self.bytes_written)
        return written

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def finish(self) -> tuple[int, str]:
        """Flush and fsync before anyone is told the bytes were received."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return self.bytes_written, self._sha256.hexdigest()


class Spool:
    """Spool files live in one directory, on the same filesystem as local storage."""

    PREFIX = "up-"

    def __init__(self, directory: Path):
        self.directory = directory

    def new_writer(self, on_progress: Callable[[int], None] | None = None) -> SpoolWriter:
        """A fresh, exclusively created spool file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{self.PREFIX}{secrets.token_hex(16)}"
        return SpoolWriter(path.open("xb+"), on_progress)

    def files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return [p for p in self.directory.iterdir() if p.name.startswith(self.PREFIX)]

    @staticmethod
    def discard(path: Path | str) -> None:
        Path(path).unlink(missing_ok=True)
