"""Request bodies of known length, read straight from gunicorn's socket.

gunicorn's body reader hands out ``bytes`` assembled in ``BytesIO`` buffers, so each
byte of a body is copied several times in Python: reading a 256 MiB body cost 0.4
CPU-s here, twice what encrypting it costs. A body with a Content-Length on an HTTP/1
connection is a plain run of bytes on the socket, so it can be received with
``recv_into`` into the caller's buffer instead: one copy, made by the kernel.

gunicorn stays in charge of the connection. Bytes it has already taken off the socket
(read ahead with the headers, or by a ``readline``) are served first, through its own
reader, and its count of what is left of the body is kept exact, so after the response
it drains, reuses or closes the connection as if it had read the body itself. Any
other body (chunked, HTTP/2, another server) is not matched and is read through
gunicorn's stream as before.
"""

from __future__ import annotations

import io
import socket

from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader


class SocketBody:
    """The rest of one HTTP/1 request body of known length, on gunicorn's socket."""

    def __init__(self, body: Body, reader: LengthReader, unreader: SocketUnreader):
        self._body = body
        self._reader = reader
        self._unreader = unreader

    @classmethod
    def of(cls, stream: object, sock: socket.socket) -> SocketBody | None:
        """The socket body behind ``wsgi.input``, if it is one this class can read."""
        reader = getattr(stream, "reader", None)
        unreader = getattr(reader, "unreader", None)
        if (
            isinstance(stream, Body)
            and isinstance(reader, LengthReader)
            and isinstance(unreader, SocketUnreader)
            and unreader.sock is sock
        ):
            return cls(stream, reader, unreader)
        return None

    def readinto(self, view: memoryview) -> int:
        """Receive at most ``len(view)`` bytes of the body, as many as have arrived
        (waiting for at least one); 0 at the end of the body or of the connection."""
        held = self._held()
        if held:
            data = self._body.read(min(len(view), held))
            view[: len(data)] = data
            return len(data)
        wanted = min(len(view), self._reader.length)
        if not wanted:
            return 0
        try:
            count = self._sock.recv_into(view[:wanted])
        except OSError:
            self._body.failed = True  # where the next request starts is now unknown
            raise
        self._reader.length -= count
        return count

    @property
    def _sock(self) -> socket.socket:
        return self._unreader.sock

    def _held(self) -> int:
        """Bytes gunicorn already took off the socket, in its body's and its
        unreader's buffers (beyond this body's end if the client pipelined)."""
        return self._body.buf.tell() + self._unreader.buf.seek(0, io.SEEK_END)
