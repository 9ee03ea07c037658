"""The spool: where upload bodies land, once, while they stream in."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import BinaryIO


class Spool:
    """Creates spool files in one directory, on the same filesystem as local storage."""

    def __init__(self, directory: Path):
        self.directory = directory

    def new_file(self) -> BinaryIO:
        """A fresh, exclusively created file opened for writing and reading back."""
        self.directory.mkdir(parents=True, exist_ok=True)
        return (self.directory / f"up-{secrets.token_hex(16)}").open("xb+")

    @staticmethod
    def make_durable(stream: BinaryIO) -> Path:
        """Flush and fsync a spool file before anyone is told it was received."""
        stream.flush()
        os.fsync(stream.fileno())
        return Path(stream.name)

    @staticmethod
    def discard(path: Path) -> None:
        path.unlink(missing_ok=True)
