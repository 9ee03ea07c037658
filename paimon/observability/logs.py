"""Log lines as JSON objects, one per line, or as text for a person (PAIMON_LOG_FORMAT).

One formatter serves Paimon's loggers and gunicorn's error log, so every line a server
writes has the same shape. Only a record's message and the fields passed as ``extra``
are written: never headers, query strings or settings, which may hold secrets, and
bearer secrets (job ids, download keys) only as their ``reference``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["json", "text"]

#: The request being served by this thread, added to every line logged meanwhile.
REQUEST_ID: ContextVar[str | None] = ContextVar("paimon_request_id", default=None)

#: Keys the references that stand for bearer secrets in log lines; the server sets the
#: install's secret at start (paimon/bootstrap/installsecret.py), so every worker writes the
#: same reference for the same id. Until then a key of this process's own.
_reference_key = secrets.token_bytes(32)
REFERENCE_LENGTH = 8


def set_reference_key(key: bytes) -> None:
    global _reference_key
    _reference_key = key


def reference(secret: str, length: int = REFERENCE_LENGTH) -> str:
    """What a log line says instead of a bearer secret (a job id, a download key, a tus
    upload id): the first hex digits of its HMAC under the install's secret. Short, the
    same in every line and worker so lines correlate, and no help to whoever has only
    the log: the HMAC cannot be reversed, nor guesses checked, without the key."""
    digest = hmac.new(_reference_key, secret.encode(errors="surrogateescape"), hashlib.sha256)
    return digest.hexdigest()[:length]


#: Fields that hold a bearer secret, whichever module logs them: written as its reference.
SECRET_FIELDS = frozenset({"job_id", "storage_key", "upload_id"})

#: Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}

#: Loggers that would write secrets at DEBUG (urllib3 logs URLs with MEGA's session id).
_QUIET = ("urllib3",)


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields of a record: its ``extra`` and the current request id."""
    fields = {
        k: reference(str(v)) if k in SECRET_FIELDS and v is not None else v
        for k, v in record.__dict__.items()
        if k not in _STANDARD
    }
    request_id = REQUEST_ID.get()
    if request_id and "request_id" not in fields:
        fields["request_id"] = request_id
    return fields


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", "pid", ...extra, "exc"}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
            **extra_fields(record),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``<time> <LEVEL> <logger> [<pid>]: <message> key=value ...`` for reading by eye.

    Control characters in the message and fields are escaped, so a hostile path or
    filename cannot forge a line; a traceback keeps its lines.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        fields = "".join(f" {k}={_text_value(v)}" for k, v in extra_fields(record).items())
        return _escape(super().formatMessage(record)) + fields


def _escape(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _text_value(value: object) -> str:
    text = "-" if value is None else str(value)
    if text and text.isprintable() and not any(c in text for c in ' "='):
        return text
    return json.dumps(text, ensure_ascii=False)


FORMATTERS: dict[LogFormat, type[logging.Formatter]] = {
    "json": JsonFormatter,
    "text": TextFormatter,
}


def configure_logging(level: str, log_format: LogFormat) -> None:
    """Route the root logger through one stderr handler with Paimon's formatter.

    Under gunicorn, gunicorn.conf.py's ``logconfig_dict`` did it in the master and the
    workers inherited it, so only the level is set here; other runners (flask, tests)
    get the handler added once per process, next to any handler already there.
    """
    root = logging.getLogger()
    root.setLevel(level)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.getLevelName(level), logging.INFO))
    if not any(isinstance(h.formatter, tuple(FORMATTERS.values())) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(FORMATTERS[log_format]())
        root.addHandler(handler)


def gunicorn_logconfig(level: str, log_format: LogFormat) -> dict[str, Any]:
    """gunicorn's ``logconfig_dict``: its error log and the root logger through Paimon's
    formatter on stderr; its access log off, since the app logs each request itself."""
    formatter = FORMATTERS[log_format]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"paimon": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "paimon": {
                "class": "logging.StreamHandler",
                "formatter": "paimon",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["paimon"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["paimon"], "propagate": False},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }
