"""Pending uploads: MEGA's chunk geometry, the bookkeeping of which chunks arrived, and
the checksum MEGA's SDK puts on each chunk POST."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path

from mega.crypto import get_chunks

from paimon.megasim.errors import ApiError
from paimon.storage.mega.codes import ERANGE

#: ``EncryptByChunks::CRCSIZE`` in MEGA's SDK.
CHECKSUM_BYTES = 12


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
        self.received.update(self._chunks_in(offset, length))
        return len(self.received) == len(self._starts)

    def forget_range(self, offset: int, length: int) -> None:
        """A range arrived damaged (its checksum did not match): its chunks count as not
        received, even if an earlier copy was, since the damaged one overwrote it."""
        self.received.difference_update(self._chunks_in(offset, length))

    def _chunks_in(self, offset: int, length: int) -> list[int]:
        """The starts of the chunks a range covers (the empty file's one for its POST)."""
        if self.size == 0:
            return [0]
        first = bisect.bisect_left(self._starts, offset)
        return self._starts[first : bisect.bisect_left(self._starts, offset + length)]

    @property
    def received_bytes(self) -> int:
        return sum(self.chunk_sizes[start] for start in self.received)


class ChunkChecksum:
    """The checksum of a chunk POST's body that MEGA's SDK sends as ``?d=`` (``?c=``
    before 2021): 12 bytes, byte ``i`` of the body XORed into byte ``i % 12``
    (``EncryptByChunks::updateCRC``, src/http.cpp); the URL carries their base64url.

    Fed piece by piece as the body streams in; each piece is folded in C-speed big-integer
    steps (halving at multiples of 12 bytes), not byte by byte in Python.
    """

    def __init__(self) -> None:
        self._folded = 0  # little-endian: body byte i lands in bits 8 * (i % 12) onwards
        self._position = 0

    def update(self, piece: bytes | memoryview) -> None:
        lead = self._position % CHECKSUM_BYTES  # the piece starts this far into a lane row
        self._position += len(piece)
        width = lead + len(piece)
        value = int.from_bytes(piece, "little") << (8 * lead)
        while width > CHECKSUM_BYTES:
            half = -(-width // (2 * CHECKSUM_BYTES)) * CHECKSUM_BYTES  # a multiple of 12
            value = (value & ((1 << (8 * half)) - 1)) ^ (value >> (8 * half))
            width = half
        self._folded ^= value

    def digest(self) -> bytes:
        return self._folded.to_bytes(CHECKSUM_BYTES, "little")
