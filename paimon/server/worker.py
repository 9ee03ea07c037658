"""Gunicorn's gthread worker, holding many slow clients and refusing malformed HTTP the
way the app refuses the rest.

Idle connections cost no thread. Gunicorn hands a new connection to a thread,
which waits up to 5 s for its first bytes: 16 silent sockets took every thread of a
worker. Here a new connection waits in the worker's poller, as kept-alive ones already
do, and reaches a thread only once it has sent something; one that sends nothing for
``PAIMON_HEADER_TIMEOUT_SECONDS`` is closed. A request head must then arrive whole
within that time (gunicorn has no such bound: a head sent a line every 15 s held a
thread forever); a slower one is answered 408. Bodies are bounded by the slow-body
guard (bodyguard.py); docs/architecture.md, "Many slow clients", has the measurements.

Gunicorn answers a request it cannot parse itself, before Flask sees it, with an HTML
page that quotes the offending line, and logs that line: a client that forgets the
colon in ``Authorization: Bearer <token>`` would have its token echoed and written to
the log. This worker answers such requests with Paimon's JSON error, status and body
from the app's one error table (paimon/web/errors.py), and logs only the kind of
error. Everything else is gunicorn's own handling.
"""

from __future__ import annotations

import contextlib
import errno
import json
import re
import resource
import selectors
import socket
import time
from functools import partial

from gunicorn import util
from gunicorn.http import errors
from gunicorn.http.unreader import SocketUnreader
from gunicorn.workers.gthread import TConn, ThreadWorker

from paimon.bootstrap import process
from paimon.web.errors import KINDS, error_body


class RequestHeadTimeout(errors.ParseException):
    """The request head did not arrive whole within the header timeout."""


class HeadDeadlineUnreader(SocketUnreader):
    """gunicorn's socket reader, with a deadline while a request head is read.

    The deadline is set before each head and cleared once the head is parsed, so a
    body is read as gunicorn reads it (with the slow-body guard's bound instead).
    """

    deadline: float | None = None

    def chunk(self, size_hint: int | None = None) -> bytes:
        if self.deadline is None:
            return super().chunk(size_hint)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise RequestHeadTimeout()
        self.sock.settimeout(remaining)
        try:
            return super().chunk(size_hint)
        except TimeoutError:
            raise RequestHeadTimeout() from None
        finally:
            self.sock.settimeout(None)


class Connection(TConn):
    """A connection whose HTTP/1 parser reads each head against a deadline."""

    def __init__(
        self, cfg: object, sock: socket.socket, client: object, server: object, head_timeout: float
    ) -> None:
        super().__init__(cfg, sock, client, server)
        self.head_timeout = head_timeout
        self.closed = False

    def init(self) -> None:
        fresh = self.parser is None
        super().init()
        if fresh and type(self.parser.unreader) is SocketUnreader:
            self.parser.unreader = HeadDeadlineUnreader(self.sock)
            self.expect_head()

    def close(self, graceful: bool = False) -> None:
        """Once: the request's thread closes it, and gunicorn's loop calls this again."""
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):  # closed already (gunicorn's SSL path)
                super().close(graceful)

    def expect_head(self) -> None:
        """The next request's head must arrive within the timeout from now."""
        if isinstance(unreader := getattr(self.parser, "unreader", None), HeadDeadlineUnreader):
            unreader.deadline = time.monotonic() + self.head_timeout

    def head_received(self) -> None:
        if isinstance(unreader := getattr(self.parser, "unreader", None), HeadDeadlineUnreader):
            unreader.deadline = None


#: The reason phrases (RFC 9110) of the statuses the error table gives parse errors.
REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    408: "Request Timeout",
    414: "URI Too Long",
    417: "Expectation Failed",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
}


def http_error_name(exc: Exception) -> str:
    """``InvalidRequestLine`` -> ``invalid_request_line``: says what, quotes nothing."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def raise_open_files_limit(wanted: int) -> None:
    """Each held connection is a file descriptor: lift the soft limit (often 1,024) as
    far as the hard limit allows, so connections are refused by policy, not by EMFILE."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class JsonErrorThreadWorker(ThreadWorker):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = process.settings().header_timeout_seconds

    def init_process(self) -> None:
        # Connections, plus the worker's own files (spool, database, sockets to MEGA).
        raise_open_files_limit(self.worker_connections + 1024)
        super().init_process()

    def accept(self, listener: socket.socket) -> None:
        """A new connection waits in the poller, costing no thread, until it sends."""
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = Connection(self.cfg, client, address, listener.getsockname(), self.header_timeout)
        # Every new connection gets the same timeout, so pending_conns stays in
        # deadline order, which gunicorn's murder_pending relies on.
        conn.timeout = time.monotonic() + self.header_timeout
        self.pending_conns.append(conn)
        self.poller.register(
            client, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn)
        )

    def handle(self, conn: TConn) -> object:
        if isinstance(conn, Connection) and conn.initialized:
            conn.expect_head()  # a kept-alive connection's next request (a new one's: init)
        keep = super().handle(conn)
        if keep is False and isinstance(conn, Connection):
            # gunicorn closes on its main loop, lingering up to 2 s for the client to
            # close first: one client that does not stalled accepting and every kept-
            # alive connection of the worker. The linger happens here, on this thread;
            # gunicorn's own close is then a no-op.
            conn.close(graceful=True)
        return keep

    def handle_request(self, req: object, conn: TConn) -> bool:
        if isinstance(conn, Connection):
            conn.head_received()
        return super().handle_request(req, conn)

    def handle_error(
        self, req: object, client: socket.socket, addr: tuple[str, int] | None, exc: Exception
    ) -> None:
        # Response header errors are the app's (500), not the client's: gunicorn's path.
        if not isinstance(exc, errors.ParseException) or isinstance(
            exc, errors.InvalidResponseHeader | errors.InvalidResponseHeaderName
        ):
            super().handle_error(req, client, addr, exc)
            return
        code = http_error_name(exc)
        self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], code)
        message = None  # the error table's
        if isinstance(exc, RequestHeadTimeout):
            message = (
                f"The request head did not arrive within {self.header_timeout:g} s; "
                "send it again, on a faster or steadier connection."
            )
        elif code not in KINDS:  # a parse error of a later gunicorn: still not HTTP
            message = f"The request is not valid HTTP ({code.replace('_', ' ')})."
        status = KINDS[code].status if code in KINDS else 400
        body = json.dumps(error_body(code, message)).encode()
        head = (
            f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        try:
            util.write_nonblock(client, head + body)
        except OSError:
            self.log.debug("Failed to send error message.")
