"""Every error leaves as JSON a person can read, with an honest status code."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from paimon.api.context import services
from paimon.services.spool import SpoolFull
from paimon.services.uploads import UnknownService, UploadRefused
from paimon.storage.base import QuotaExceeded, StorageError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A refusal the client can act on."""

    def __init__(self, status: int, error: str, message: str):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def error_response(status: int, error: str, message: str, **extra: object):
    body = {"status": "error", "error": error, "message": message, **extra}
    return jsonify(body), status


PUT_NEEDS_A_NAME = (
    "PUT needs the file's name in the path: PUT /upload/<name> (curl -T name.ext "
    "URL/upload/ adds it), or POST /upload with a multipart form."
)


def _is_put_without_name() -> bool:
    return request.method == "PUT" and request.path.rstrip("/") == "/upload"


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.error, exc.message)

    @app.errorhandler(UploadRefused)
    def _refused(exc: UploadRefused):
        extra = {}
        if isinstance(exc, UnknownService):
            extra["supported_services"] = services().uploads.supported_services
        return error_response(exc.status, exc.error, exc.message, **extra)

    @app.errorhandler(SpoolFull)
    def _spool_full(exc: SpoolFull):
        return error_response(
            507,
            "server_full",
            "The server's disk filled up while this upload arrived; what this request "
            "sent was not kept. Try again later.",
        )

    @app.errorhandler(QuotaExceeded)
    def _quota(exc: QuotaExceeded):
        return error_response(507, "storage_full", exc.message, retryable=exc.retryable)

    @app.errorhandler(StorageError)
    def _storage(exc: StorageError):
        log.warning("storage failed: %s", exc.message)
        return error_response(502, "storage_failed", exc.message, retryable=exc.retryable)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge):
        limit = services().settings.max_upload_bytes
        return error_response(
            413,
            "too_large",
            f"The upload is larger than this server accepts ({limit:,} bytes).",
        )

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
