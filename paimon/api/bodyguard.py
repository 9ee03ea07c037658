"""A bound on slow request bodies, which gunicorn's gthread worker does not have.

With gthread a request body is read by a blocking socket with no timeout, and gunicorn's
``timeout`` is the worker's heartbeat, not a request limit: a client that drips one
byte a second holds a thread for as long as it likes. Here every read of the body (64
KiB at a time, or the rest of the body when less is left: gunicorn returns a read only
once it is complete) must finish within ``PAIMON_BODY_TIMEOUT_SECONDS``. A read
cannot be interrupted from inside (gunicorn loops until the bytes are all there), so a
watchdog thread shuts the socket's receiving side when a read overruns: the read
returns at once and the request ends with 408, its spool file removed like any other
unfinished upload. The reply can still be sent; only reading stops.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, BinaryIO

from werkzeug.exceptions import RequestTimeout

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

READ_STEP = 64 * 1024


class BodyTimeout(RequestTimeout):
    """The body arrived slower than the server accepts (answered 408 as JSON)."""

    description = (
        "The request body arrived too slowly and was cut off; send it again, "
        "on a faster or steadier connection."
    )


class Watchdog:
    """One thread per worker process cuts off reads that pass their deadline.

    Every deadline is "now + the same timeout", so a new one is never earlier than
    those already watched: the thread only needs waking when it had nothing to watch.
    """

    def __init__(self) -> None:
        self._deadlines: dict[GuardedInput, float] = {}
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, stream: GuardedInput, deadline: float) -> None:
        with self._wake:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="body-watchdog", daemon=True)
                self._thread.start()
            if not self._deadlines:
                self._wake.notify()
            self._deadlines[stream] = deadline

    def unwatch(self, stream: GuardedInput) -> None:
        with self._wake:
            self._deadlines.pop(stream, None)

    def _run(self) -> None:
        with self._wake:
            while True:
                now = time.monotonic()
                for stream, deadline in list(self._deadlines.items()):
                    if deadline <= now:
                        del self._deadlines[stream]
                        stream.cut()
                soonest = min(self._deadlines.values(), default=None)
                self._wake.wait(None if soonest is None else soonest - now)


class GuardedInput:
    """``wsgi.input`` whose every read has a deadline."""

    def __init__(self, stream: BinaryIO, sock: socket.socket, timeout: float, dog: Watchdog):
        self._stream = stream
        self._sock = sock
        self._timeout = timeout
        self._dog = dog
        self._cut = False

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(READ_STEP), b""))
        return self._guarded(self._stream.read, min(size, READ_STEP))

    def readinto(self, buffer: bytearray | memoryview) -> int:
        """Fill ``buffer``, one guarded read at a time, until it is full or the body
        ends: werkzeug's LimitedStream reads through this into the caller's buffer
        (instead of zeroing a new one for every read), and a large buffer means few
        pieces for the spool writer to handle."""
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            want = len(view) - filled
            data = self.read(want)
            view[filled : filled + len(data)] = data
            filled += len(data)
            if len(data) < min(want, READ_STEP):
                break  # gunicorn returns less than asked only at the end of the body
        return filled

    def readline(self, size: int | None = -1) -> bytes:
        return self._guarded(self._stream.readline, size)

    def cut(self) -> None:
        """Called by the watchdog: end the blocked read by closing the receiving side."""
        self._cut = True
        with contextlib.suppress(OSError):  # the client is already gone
            self._sock.shutdown(socket.SHUT_RD)

    def _guarded(self, read: Callable[[int | None], bytes], size: int | None) -> bytes:
        self._dog.watch(self, time.monotonic() + self._timeout)
        try:
            data = read(size)
        except Exception:
            if self._cut:
                raise BodyTimeout() from None
            raise
        finally:
            self._dog.unwatch(self)
        if self._cut:
            raise BodyTimeout()
        return data


class BodyGuard:
    """WSGI middleware: guards the body of every request gunicorn serves.

    Outside gunicorn (no ``gunicorn.socket``) there is no socket to cut, and the
    request passes unguarded.
    """

    def __init__(self, app: WSGIApplication, timeout: float):
        self.app = app
        self.timeout = timeout
        self.watchdog = Watchdog()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        if sock is not None:
            environ["wsgi.input"] = GuardedInput(
                environ["wsgi.input"], sock, self.timeout, self.watchdog
            )
        return self.app(environ, start_response)
