"""Raw request bodies (PUT, tus PATCH) copied into spool files through one buffer."""

from __future__ import annotations

import time
from typing import BinaryIO, Protocol

READ_SIZE = 1024 * 1024  # 1 MiB reads: few system calls and Python round trips per GB
#: The first buffer of a body: a slow client (a phone at 2 KiB/s) never gets a larger
#: one, and hundreds of them are held at once (docs/architecture.md, "Many slow clients").
FIRST_READ_SIZE = 4 * 1024
#: A read that fills its buffer this fast says the body comes faster than 4 KiB per
#: 50 ms (80 KB/s): only then is a larger buffer worth its memory.
GROW_WITHIN_SECONDS = 0.05
#: ... and only once this much of the body came: what a slow client sent while its
#: upload waited to be admitted fills the first reads at once (measured: slow bodies
#: held 16 KiB buffers, 12 KiB each more than they need); a fast body passes it within
#: milliseconds, in 16 reads.
GROW_AFTER_BYTES = 64 * 1024


def next_read_size(
    size: int, count: int, seconds: float, received: int, largest: int = READ_SIZE
) -> int:
    """The buffer size for the next read of a body, after ``count`` bytes came in
    ``seconds`` into a buffer of ``size``, ``received`` in all so far: doubled, up to
    ``largest``, when the read filled it quickly past the body's first
    GROW_AFTER_BYTES. The reader below the app waits to fill each buffer (up to
    64 KiB, bodyguard.py), so a full buffer alone does not mean a fast client."""
    if count == size and seconds < GROW_WITHIN_SECONDS and received >= GROW_AFTER_BYTES:
        return min(2 * size, largest)
    return size


class Sink(Protocol):
    """Takes each piece as it arrives; the piece's memory is reused once ``write`` returns."""

    def write(self, data: memoryview, /) -> int: ...


class BodyEndedEarly(Exception):
    """The body stopped before its declared length: the client went away."""


class BodyTooLong(Exception):
    """The body went on past the number of bytes the upload may still take."""


def copy_body(
    source: BinaryIO, sink: Sink, limit: int | None = None, expected: int | None = None
) -> int:
    """Copy ``source`` into ``sink`` until it ends; return the bytes copied.

    With ``limit``, a body longer than that raises BodyTooLong once ``limit`` bytes are
    written, so a chunked body (no Content-Length) cannot outgrow what was declared.
    A body shorter than ``expected`` (its Content-Length) raises BodyEndedEarly:
    gunicorn ends the stream quietly when the client goes away.

    Every piece is read into the same buffer (``readinto``): werkzeug's ``read(n)``
    would zero a new ``n``-byte buffer for each piece and copy it twice, which measured
    twice the CPU of this loop for the same body. The buffer starts small and grows
    while the body comes fast (``next_read_size``): a fast body reaches 1 MiB reads
    after eight, a slow one keeps 4 KiB (a 1 MiB buffer each would cost 1 MiB of memory
    per slow client, since ``bytearray`` zeroes every page).
    """
    buffer = memoryview(bytearray(FIRST_READ_SIZE))
    copied = 0
    while True:
        size = len(buffer)
        want = size if limit is None else min(size, limit - copied)
        started = time.monotonic()
        count = source.readinto(buffer[: want or 1])
        if not count:
            break
        if not want:
            raise BodyTooLong
        sink.write(buffer[:count])
        copied += count
        seconds = time.monotonic() - started
        if (grown := next_read_size(size, count, seconds, copied)) != size:
            buffer = memoryview(bytearray(grown))
    if expected is not None and copied < expected:
        raise BodyEndedEarly(f"The body ended after {copied} of {expected} bytes.")
    return copied
