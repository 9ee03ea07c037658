"""The gunicorn worker answers every parse error gunicorn raises with a kind of the
app's one error table (paimon/web/errors.py), so its status is decided there."""

from __future__ import annotations

from gunicorn.http import errors

from paimon.server.worker import REASONS, RequestHeadTimeout, http_error_name
from paimon.web.errors import KINDS

#: Not the client's fault: the app's response headers (gunicorn's own 500).
RESPONSE_ERRORS = (errors.InvalidResponseHeader, errors.InvalidResponseHeaderName)


def parse_errors() -> list[type[Exception]]:
    found, todo = [], [errors.ParseException]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls is not errors.ParseException and not issubclass(cls, RESPONSE_ERRORS):
            found.append(cls)
    return found


def test_every_parse_error_has_a_kind_with_a_reason_phrase() -> None:
    classes = parse_errors()
    assert RequestHeadTimeout in classes and errors.InvalidRequestLine in classes
    for cls in classes:
        kind = http_error_name(cls.__new__(cls))
        assert kind in KINDS, cls
        assert KINDS[kind].status in REASONS, kind
