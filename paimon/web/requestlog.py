"""Each request: an id (the client's ``X-Request-ID`` if usable), one log line and the
HTTP metrics, recorded when the response's last byte has been handed to the server.

The line has the path without its query string and no headers: either may carry a
token. Job ids and download keys in the path are bearer secrets (an id opens its
status page, which shows the link), so the path is the route's pattern filled with
their ``reference`` instead: ``/files/3fa2b1c9``. It replaces gunicorn's access log
(gunicorn.conf.py turns that off).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable

from flask import Flask, Response, g, request

from paimon.observability import metrics
from paimon.observability.logs import REQUEST_ID, reference

log = logging.getLogger("paimon.request")

HEADER = "X-Request-ID"
MAX_ID_LENGTH = 64
_NOT_ID = re.compile(r"[^A-Za-z0-9._:/+=@-]")
#: Methods kept as metric labels; anything a client invents is counted as "other".
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Path parts logged as sent: a file's name is no key. Any other is a reference, so a
#: route added later is redacted without anyone remembering to.
PUBLIC_ARGS = frozenset({"filename"})
_RULE_ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def request_id(sent: str | None) -> str:
    """The client's id with unsafe characters removed and cut to length, else a new one."""
    cleaned = _NOT_ID.sub("", sent or "")[:MAX_ID_LENGTH]
    return cleaned or secrets.token_hex(16)


def install(app: Flask) -> None:
    """Hook in ahead of every other before/after-request function, so a request another
    hook answers early (a refused token, a rate limit) is still timed and logged."""
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request_funcs.setdefault(None, []).insert(0, _finish)  # run last
    app.teardown_request(_forget_request_id)


def _forget_request_id(_exc: BaseException | None) -> None:
    """Always runs when a request ends, so the id never outlives it on a pool thread,
    even when the response is never closed or an error skipped the after-request hooks."""
    REQUEST_ID.set(None)


def _start() -> None:
    g.request_started = time.perf_counter()
    g.request_id = request_id(request.headers.get(HEADER))
    REQUEST_ID.set(g.request_id)


def _finish(response: Response) -> Response:
    response.headers[HEADER] = g.request_id
    method = request.method if request.method in _METHODS else "other"
    endpoint = request.url_rule.endpoint if request.url_rule else "unmatched"
    started = g.request_started
    entry = {
        "request_id": g.request_id,
        "method": request.method,
        "path": logged_path(),
        "status": response.status_code,
        "bytes": response.content_length,
        "bytes_in": request.content_length,
        "remote_addr": request.remote_addr,
    }
    if "who" in g:  # the label of the token it was sent with (paimon/web/tokens.py)
        entry["who"] = g.who

    def record() -> None:
        seconds = time.perf_counter() - started
        log.info("request", extra=entry | {"duration_ms": round(seconds * 1000, 1)})
        metrics.HTTP_REQUESTS.labels(method, endpoint, str(response.status_code)).inc()
        metrics.HTTP_SECONDS.labels(method, endpoint).observe(seconds)

    body = response.response
    if response.direct_passthrough and hasattr(body, "close"):
        # A file sent as is (send_file): the server closes the body, never the response.
        body.close = _then(body.close, record)
    else:
        response.call_on_close(record)
    return response


def logged_path() -> str:
    """The path with every secret part as its reference. One that matched no route
    (a 404, a 405 such as GET /tus/<id>) keeps only its first segment as sent."""
    if request.url_rule is None or request.view_args is None:
        first, slash, rest = request.path.lstrip("/").partition("/")
        return f"/{first}{slash}{reference(rest) if rest else ''}"
    args = request.view_args

    def shown(match: re.Match[str]) -> str:
        value = str(args.get(match[1], ""))
        return value if match[1] in PUBLIC_ARGS else reference(value)

    return _RULE_ARG.sub(shown, request.url_rule.rule)


def _then(close: Callable[[], object], record: Callable[[], None]) -> Callable[[], None]:
    def close_then_record() -> None:
        try:
            close()
        finally:
            record()

    return close_then_record
