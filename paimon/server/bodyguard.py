"""A bound on slow request bodies, which gunicorn's gthread worker does not have.

With gthread a request body is read by a blocking socket with no timeout, and gunicorn's
``timeout`` is the worker's heartbeat, not a request limit: a client that drips one
byte a second holds a thread for as long as it likes. Here every 64 KiB of the body (or
the rest of it, when less is left) must arrive within ``PAIMON_BODY_TIMEOUT_SECONDS``.
A blocked read cannot be interrupted from inside, so a watchdog thread shuts the
socket's receiving side when a deadline passes: the read returns at once and the
request ends with 408, its spool file removed like any other unfinished upload. The
reply can still be sent; only reading stops.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, BinaryIO

from werkzeug.exceptions import RequestTimeout

from paimon.server.socketbody import SocketBody

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

    The thread sleeps until the soonest deadline; a new one that is sooner (a body
    whose 64 KiB window began a while ago) wakes it.
    """

    def __init__(self) -> None:
        self._deadlines: dict[GuardedInput, float] = {}
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._next_wake = math.inf  # the deadline the thread sleeps until

    def watch(self, stream: GuardedInput, deadline: float) -> None:
        with self._wake:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="body-watchdog", daemon=True)
                self._thread.start()
            if deadline < self._next_wake:
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
                self._next_wake = min(self._deadlines.values(), default=math.inf)
                self._wake.wait(None if self._next_wake == math.inf else self._next_wake - now)
                self._next_wake = -math.inf  # awake: whoever watches now need not wake it


class GuardedInput:
    """``wsgi.input`` whose every 64 KiB must arrive before a deadline.

    A body of known length is received straight from the socket (``SocketBody``);
    any other goes through gunicorn's stream, which returns a read only once all the
    bytes asked for are there.
    """

    def __init__(
        self,
        stream: BinaryIO,
        sock: socket.socket,
        timeout: float,
        dog: Watchdog,
        direct: SocketBody | None = None,
    ):
        self._stream = stream
        self._sock = sock
        self._timeout = timeout
        self._dog = dog
        self._direct = direct
        self._cut = False
        # The current 64 KiB of the body must arrive by window_start + timeout, however
        # many reads (of whatever size the app asks for) it takes.
        self._window_start: float | None = None
        self._window_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(READ_STEP), b""))
        buffer = bytearray(min(size, READ_STEP))
        count = self.readinto(buffer)
        return bytes(memoryview(buffer)[:count])  # one copy, not a bytearray slice and another

    def readinto(self, buffer: bytearray | memoryview) -> int:
        """Read at least 64 KiB into ``buffer`` (or the rest of the body), and whatever
        more has already arrived, up to its size. werkzeug's LimitedStream reads through
        this into the caller's buffer (instead of zeroing a new one for every read); a
        fast body fills a large buffer in one go, so the spool writer gets few pieces,
        and a slow one is handed on after each 64 KiB."""
        view = memoryview(buffer).cast("B")
        receive = self._receive_some if self._direct is None else self._direct.readinto
        wanted = min(len(view), READ_STEP)
        filled = 0
        with self._deadline():
            while filled < wanted:
                count = receive(view[filled:])
                if not count:
                    break
                filled += count
        self._arrived(filled)
        return filled

    def readline(self, size: int | None = -1) -> bytes:
        with self._deadline():
            line = self._stream.readline(size)
        self._arrived(len(line))
        return line

    def _arrived(self, count: int) -> None:
        self._window_bytes += count
        if self._window_bytes >= READ_STEP:  # this 64 KiB arrived in time: a new window
            self._window_start, self._window_bytes = None, 0

    def cut(self) -> None:
        """Called by the watchdog: end the blocked read by closing the receiving side."""
        self._cut = True
        with contextlib.suppress(OSError):  # the client is already gone
            self._sock.shutdown(socket.SHUT_RD)

    def _receive_some(self, view: memoryview) -> int:
        """One read through gunicorn's stream: it returns only once the bytes asked
        for are all there, or the body has ended."""
        data = self._stream.read(min(len(view), READ_STEP))
        view[: len(data)] = data
        return len(data)

    @contextlib.contextmanager
    def _deadline(self) -> Iterator[None]:
        """The reads inside must be done within the timeout, or the watchdog cuts them."""
        if self._window_start is None:
            self._window_start = time.monotonic()
        self._dog.watch(self, self._window_start + self._timeout)
        try:
            yield
        except Exception:
            if self._cut:
                raise BodyTimeout() from None
            raise
        finally:
            self._dog.unwatch(self)
        if self._cut:
            raise BodyTimeout()


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
            stream = environ["wsgi.input"]
            environ["wsgi.input"] = GuardedInput(
                stream, sock, self.timeout, self.watchdog, SocketBody.of(stream, sock)
            )
        return self.app(environ, start_response)
