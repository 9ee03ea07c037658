"""Raw request bodies (PUT, tus PATCH) copied into spool files through one buffer."""

from __future__ import annotations

from typing import BinaryIO, Protocol

READ_SIZE = 1024 * 1024  # 1 MiB reads: few system calls and Python round trips per GB


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
    twice the CPU of this loop for the same body.
    """
    buffer = memoryview(bytearray(READ_SIZE))
    copied = 0
    while True:
        want = READ_SIZE if limit is None else min(READ_SIZE, limit - copied)
        count = source.readinto(buffer[: want or 1])
        if not count:
            break
        if not want:
            raise BodyTooLong
        sink.write(buffer[:count])
        copied += count
    if expected is not None and copied < expected:
        raise BodyEndedEarly(f"The body ended after {copied} of {expected} bytes.")
    return copied
