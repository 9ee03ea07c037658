"""Pending uploads: MEGA's chunk geometry and the bookkeeping of which chunks arrived."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path

from mega.crypto import get_chunks

from paimon.megasim.errors import ApiError
from paimon.storage.mega.codes import ERANGE


@dataclass
class PendingUpload:
    """One upload URL handed out by ``u``; its ciphertext lands in a sparse file ``blob``."""

    token: str
    owner: str
    size: int
    blob: Path
    binary_token: bool = False  # asked for with ``v`` >= 2: the completion token is binary
    chunk_sizes: dict[int, int] = field(init=False)  # chunk start -> chunk size
    received: set[int] = field(default_factory=set)  # starts of chunks fully written
    expired: bool = False
    completion_handle: str | None = None  # as ``p`` takes it: base64url text
    completion_reply: bytes = b""  # what the completing POST answers

    def __post_init__(self) -> None:
        # mega.py's own get_chunks defines the boundaries, so both sides agree exactly.
        self.chunk_sizes = dict(get_chunks(self.size))
        self._starts = sorted(self.chunk_sizes)
        with self.blob.open("wb") as blob:
            blob.truncate(self.size)

    def check_range(self, offset: int, length: int) -> None:
        """Refuse (``-7``) a POST that does not start and end on chunk boundaries."""
        end = offset + length
        starts_on_boundary = offset in self.chunk_sizes
        # chunk_sizes holds chunk starts only, all below size: the end may also be size.
        ends_on_boundary = end == self.size or end in self.chunk_sizes
        empty_only_for_empty_file = length > 0 or self.size == 0
        if not (starts_on_boundary and ends_on_boundary and empty_only_for_empty_file):
            raise ApiError(ERANGE)

    def mark_received(self, offset: int, length: int) -> bool:
        """Record a fully written range; True once every chunk has arrived."""
        if self.size == 0:
            self.received.add(0)
        else:
            first = bisect.bisect_left(self._starts, offset)
            last = bisect.bisect_left(self._starts, offset + length)
            self.received.update(self._starts[first:last])
        return len(self.received) == len(self._starts)

    @property
    def received_bytes(self) -> int:
        return sum(self.chunk_sizes[start] for start in self.received)
