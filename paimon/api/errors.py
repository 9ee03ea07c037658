"""Every error leaves as JSON a person can read, with an honest status code."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from paimon.api.context import services
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
        body, status = error_response(exc.code or 500, error, exc.description or exc.name)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:  # RFC 9110 needs Allow
            body.headers["Allow"] = ", ".join(exc.valid_methods)
        return body, status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on the server.")
