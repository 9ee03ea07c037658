"""Every error leaves as JSON a person can read, with the status the error table gives
its kind (errors.py): the Flask error handlers, and ``error_response`` for the few
places that answer an error themselves (a tus version check, readiness, the limiter)."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import (
    HTTPException,
    MethodNotAllowed,
    RequestEntityTooLarge,
    RequestTimeout,
)

from paimon.spool.bodies import BodyEndedEarly
from paimon.spool.writer import SpoolFull, SpoolUnavailable
from paimon.storage.base import StorageError
from paimon.uploads.refusals import UploadRefused
from paimon.web.context import services
from paimon.web.errors import KINDS, ApiError, error_body, kind_of

log = logging.getLogger(__name__)

DISK_FILLED_UP = (
    "The server's disk filled up while this upload arrived; what this request sent was "
    "not kept. Try again later."
)


def error_response(
    error: str,
    message: str | None = None,
    *,
    retry_after: int | None = None,
    **extra: object,
) -> Response:
    """The reply for an error of kind ``error``: its status and Retry-After from the
    table (``retry_after`` where the wait was counted where it was decided)."""
    kind = kind_of(error)
    response = jsonify(error_body(error, message, **extra))
    response.status_code = kind.status
    wait = retry_after if retry_after is not None else kind.retry_after
    if wait is not None:  # it passes by itself: say when to come back
        response.headers["Retry-After"] = str(wait)
    return response


def _is_put_without_name() -> bool:
    return request.method == "PUT" and request.path.rstrip("/") == "/upload"


def _werkzeug_kind(exc: HTTPException) -> str:
    """werkzeug's own errors (no such route, a method not allowed, a bad range) named
    as its status' reason phrase: ``Not Found`` -> ``not_found``."""
    return (exc.name or "error").lower().replace(" ", "_")


def refused(exc: UploadRefused) -> Response:
    """The JSON answer to a use case's refusal."""
    return error_response(exc.error, exc.message, **exc.details)


def storage_failed(exc: StorageError) -> Response:
    """The JSON answer to a storage backend's failure."""
    if exc.code == "storage_failed":
        log.warning("storage failed: %s", exc.message)
    return error_response(exc.code, exc.message, retryable=exc.retryable)


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.error, exc.message, retry_after=exc.retry_after)

    app.register_error_handler(UploadRefused, refused)

    @app.errorhandler(SpoolFull)
    def _spool_full(exc: SpoolFull):
        return error_response("server_full", DISK_FILLED_UP)

    @app.errorhandler(SpoolUnavailable)
    def _spool_unavailable(exc: SpoolUnavailable):  # nothing of the upload was acknowledged
        log.warning("%s", exc)
        return error_response("spool_unavailable")

    @app.errorhandler(BodyEndedEarly)
    def _ended_early(exc: BodyEndedEarly):  # the client went away; it reads no reply
        return error_response("bad_request", str(exc))

    app.register_error_handler(StorageError, storage_failed)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge):
        limit = services().max_upload_bytes
        return error_response(
            "too_large", f"The upload is larger than this server accepts ({limit:,} bytes)."
        )

    @app.errorhandler(RequestTimeout)
    def _too_slow(exc: RequestTimeout):  # raised by the server's slow-body guard
        return error_response("body_too_slow", exc.description or "")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if isinstance(exc, MethodNotAllowed) and _is_put_without_name():
            error, message = "name_required", None
        else:
            error, message = _werkzeug_kind(exc), exc.description or exc.name
        response = error_response(error, message)
        if error not in KINDS:  # one werkzeug names that no route of ours leads to
            response.status_code = exc.code or 500
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:  # RFC 9110 needs Allow
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response("internal_error")
