"""Every error leaves as JSON a person can read, with an honest status code.

The layers below name what went wrong as a kind (``UploadRefused.error``,
``StorageError.code``, a job's ``error_code``); ``STATUS`` is the one table that turns
a kind into an HTTP status.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import (
    HTTPException,
    MethodNotAllowed,
    RequestEntityTooLarge,
    RequestTimeout,
)

from paimon.spool.bodies import BodyEndedEarly
from paimon.spool.writer import SpoolFull
from paimon.storage.base import StorageError
from paimon.uploads.intake import UnknownService
from paimon.uploads.refusals import UploadRefused
from paimon.web.context import services

log = logging.getLogger(__name__)

STATUS = {
    "unknown_service": 400,
    "max_days_too_large": 400,
    "max_downloads_unsupported": 400,
    "bad_upload_link": 400,
    "folder_unsupported": 400,
    "not_found": 404,
    "link_not_found": 404,
    "not_failed": 409,
    "offset_mismatch": 409,
    "upload_in_progress": 409,
    "upload_complete": 409,
    "expired": 410,
    "gone": 410,
    "spool_gone": 410,
    "link_expired": 410,
    "link_revoked": 410,
    "link_used_up": 410,
    "length_required": 411,
    "exceeds_upload_length": 413,
    "link_too_large": 413,
    "link_file_too_large": 413,
    "upload_locked": 423,
    "too_many_pending": 429,
    "too_many_pending_bytes": 429,
    "too_many_uploads": 429,
    "storage_failed": 502,
    "server_busy": 503,
    "store_unavailable": 503,
    "server_full": 507,
    "storage_full": 507,
}


#: How soon a client may try again (Retry-After) after a refusal that passes by itself:
#: the job store unreachable for a moment, every upload slot or the client's share taken.
RETRY_AFTER_SECONDS = {"store_unavailable": 5, "server_busy": 5, "too_many_uploads": 5}


def status_of(error: str | None) -> int:
    """The HTTP status for a kind of failure; an unknown one is the server's fault."""
    return STATUS.get(error or "", 500)


class ApiError(Exception):
    """A refusal decided by the web layer itself (a bad header, a bad query)."""

    def __init__(
        self, status: int, error: str, message: str, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.headers = headers or {}


def error_response(status: int, error: str, message: str, **extra: object):
    body = {"status": "error", "error": error, "message": message, **extra}
    return jsonify(body), status


PUT_NEEDS_A_NAME = (
    "PUT needs the file's name in the path: PUT /upload/<name> (curl -T name.ext "
    "URL/upload/ adds it), or POST /upload with a multipart form."
)
DISK_FILLED_UP = (
    "The server's disk filled up while this upload arrived; what this request sent was "
    "not kept. Try again later."
)


def _is_put_without_name() -> bool:
    return request.method == "PUT" and request.path.rstrip("/") == "/upload"


def refused(exc: UploadRefused):
    """The JSON answer to a use case's refusal."""
    extra = {"supported_services": exc.supported} if isinstance(exc, UnknownService) else {}
    body, status = error_response(status_of(exc.error), exc.error, exc.message, **extra)
    if exc.error in RETRY_AFTER_SECONDS:  # it passes by itself: say when to come back
        body.headers["Retry-After"] = str(RETRY_AFTER_SECONDS[exc.error])
    return body, status


def storage_failed(exc: StorageError):
    """The JSON answer to a storage backend's failure."""
    if exc.code == "storage_failed":
        log.warning("storage failed: %s", exc.message)
    return error_response(status_of(exc.code), exc.code, exc.message, retryable=exc.retryable)


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        body, status = error_response(exc.status, exc.error, exc.message)
        return body, status, exc.headers

    app.register_error_handler(UploadRefused, refused)

    @app.errorhandler(SpoolFull)
    def _spool_full(exc: SpoolFull):
        return error_response(status_of("server_full"), "server_full", DISK_FILLED_UP)

    @app.errorhandler(BodyEndedEarly)
    def _ended_early(exc: BodyEndedEarly):  # the client went away; it reads no reply
        return error_response(400, "bad_request", str(exc))

    app.register_error_handler(StorageError, storage_failed)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge):
        limit = services().max_upload_bytes
        return error_response(
            413,
            "too_large",
            f"The upload is larger than this server accepts ({limit:,} bytes).",
        )

    @app.errorhandler(RequestTimeout)
    def _too_slow(exc: RequestTimeout):  # raised by the server's slow-body guard
        return error_response(408, "body_too_slow", exc.description or "")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        error = (exc.name or "error").lower().replace(" ", "_")
        description = exc.description or exc.name
        if isinstance(exc, MethodNotAllowed) and _is_put_without_name():
            error, description = "name_required", PUT_NEEDS_A_NAME
        body, status = error_response(exc.code or 500, error, description)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:  # RFC 9110 needs Allow
            body.headers["Allow"] = ", ".join(exc.valid_methods)
        return body, status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on the server.")
