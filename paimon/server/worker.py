"""Gunicorn's gthread worker, refusing malformed HTTP the way the app refuses the rest.

Gunicorn answers a request it cannot parse itself, before Flask sees it, with an HTML
page that quotes the offending line, and logs that line: a client that forgets the
colon in ``Authorization: Bearer <token>`` would have its token echoed and written to
the log. This worker answers such requests with Paimon's JSON error and logs only the
kind of error. Everything else is gunicorn's own handling.
"""

from __future__ import annotations

import json
import re
import socket

from gunicorn import util
from gunicorn.http import errors
from gunicorn.workers.gthread import ThreadWorker

# Gunicorn's status for its parse errors, where it is not 400.
STATUS = {
    errors.LimitRequestLine: (414, "URI Too Long"),
    errors.LimitRequestHeaders: (431, "Request Header Fields Too Large"),
    errors.ExpectationFailed: (417, "Expectation Failed"),
    errors.UnsupportedTransferCoding: (501, "Not Implemented"),
    errors.ForbiddenProxyRequest: (403, "Forbidden"),
}


def http_error_name(exc: Exception) -> str:
    """``InvalidRequestLine`` -> ``invalid_request_line``: says what, quotes nothing."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


class JsonErrorThreadWorker(ThreadWorker):
    def handle_error(
        self, req: object, client: socket.socket, addr: tuple[str, int] | None, exc: Exception
    ) -> None:
        # Response header errors are the app's (500), not the client's: gunicorn's path.
        if not isinstance(exc, errors.ParseException) or isinstance(
            exc, errors.InvalidResponseHeader | errors.InvalidResponseHeaderName
        ):
            super().handle_error(req, client, addr, exc)
            return
        status, reason = next(
            (found for cls, found in STATUS.items() if isinstance(exc, cls)), (400, "Bad Request")
        )
        code = http_error_name(exc)
        self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], code)
        body = json.dumps(
            {
                "status": "error",
                "error": code,
                "message": f"The request is not valid HTTP ({code.replace('_', ' ')}).",
            }
        ).encode()
        head = (
            f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        try:
            util.write_nonblock(client, head + body)
        except OSError:
            self.log.debug("Failed to send error message.")
