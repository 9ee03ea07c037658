"""The one error table: every kind of error a client can be answered with, its status,
its Retry-After and its message, and the one builder of the JSON body.

The layers below name what went wrong as a kind (``UploadRefused.error``,
``StorageError.code``, a failed job's ``error_code``), and so do the web layer's own
checks (``ApiError``) and the gunicorn worker, which answers malformed HTTP before
Flask sees it (paimon/server/worker.py). None of them decides a status: ``KINDS`` does.
This module imports neither Flask nor werkzeug, so the worker uses it as the app does;
the Flask handlers that answer with it are in handlers.py.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """What a client hears for one kind of error."""

    status: int
    #: What the kind means, for a person: the reply's message where the code that
    #: refuses has nothing more precise to say.
    message: str
    #: Seconds a client should wait before it tries again, for a refusal that passes by
    #: itself; None where waiting does not help, or where the wait is counted where the
    #: refusal is decided (``rate_limited``: what is left of the limiter's window).
    retry_after: int | None = None
    #: The body's ``status`` field: ``error`` but for readiness, whose body keeps the
    #: word its probes have always read.
    label: str = "error"


def _not_http(name: str, status: int = 400) -> Kind:
    """A request the gunicorn worker could not parse (named after gunicorn's error)."""
    return Kind(status, f"The request is not valid HTTP ({name.replace('_', ' ')}).")


#: How soon a client may come back after a refusal that passes by itself: the job store
#: unreachable for a moment, every upload slot or the client's share taken, a readiness
#: check failing (checks are cheap, and a spool with room again is seen at once).
SOON_SECONDS = 5

KINDS: dict[str, Kind] = {
    # 400: the request itself is wrong.
    "bad_request": Kind(400, "The request is malformed."),
    "bad_header": Kind(400, "A header is not a non-negative integer in ASCII digits."),
    "bad_keep": Kind(400, "Max-Days or Max-Downloads is not a number above 0."),
    "bad_format": Kind(400, "'format' must be 'text' or 'json'."),
    "bad_metadata": Kind(400, "An Upload-Metadata value is not base64."),
    "bad_part_header": Kind(400, "A part's headers (its filename) are not valid UTF-8."),
    "malformed_multipart": Kind(400, "The multipart body is malformed or incomplete."),
    "missing_boundary": Kind(400, "The multipart/form-data Content-Type has no boundary."),
    "missing_file": Kind(400, "No file in the request."),
    "missing_filename": Kind(400, "The file part has no filename."),
    "too_many_files": Kind(400, "More files in one request than this server accepts."),
    "untrusted_host": Kind(400, "This server does not answer for that Host."),
    "invalid_host": Kind(400, "The Host header is not a valid host name."),
    "unknown_service": Kind(400, "This server does not offer that storage service."),
    "max_days_too_large": Kind(400, "Max-Days is above what this server keeps uploads for."),
    "max_downloads_unsupported": Kind(400, "This storage cannot limit downloads."),
    "bad_query": Kind(400, "A filter of the console's listing is not valid."),
    "bad_cursor": Kind(400, "'cursor' must be the 'next' of an earlier page, as it was."),
    "bad_upload_link": Kind(400, "A field of the upload link is not valid."),
    "folder_unsupported": Kind(400, "This storage has no folders for upload links."),
    "bad_folder": Kind(400, "'folder' is not a valid folder path, or 'bundle' not 'folder'."),
    # 401, 403: who may ask.
    "token_required": Kind(401, "This server needs an upload token."),
    "token_rejected": Kind(403, "The upload token is not valid."),
    "delete_link_required": Kind(403, "Delete this upload with its delete link."),
    "admin_token_required": Kind(401, "The console's API needs an admin token."),
    "admin_token_rejected": Kind(403, "The admin token is not valid."),
    "sign_in_required": Kind(403, "Sign in to the console first."),
    "csrf_failed": Kind(403, "This form is not from this console's page; reload it."),
    # 404 to 423: the upload or job is not in the state the request needs.
    "not_found": Kind(404, "Nothing here."),
    "link_not_found": Kind(404, "No upload link at this address."),
    "method_not_allowed": Kind(405, "The method is not allowed for this URL."),
    "name_required": Kind(
        405,
        "PUT needs the file's name in the path: PUT /upload/<name> (curl -T name.ext "
        "URL/upload/ adds it), or POST /upload with a multipart form.",
    ),
    "body_too_slow": Kind(408, "The request body arrived too slowly and was cut off."),
    "delivery_in_flight": Kind(409, "The webhook delivery is being sent right now."),
    "not_failed": Kind(409, "The upload has not failed."),
    "offset_mismatch": Kind(409, "Upload-Offset is not where the upload stands."),
    "upload_in_progress": Kind(409, "The upload is not finished yet."),
    "upload_complete": Kind(409, "The upload is complete; it is a job now."),
    "expired": Kind(410, "The upload expired; start it again."),
    "gone": Kind(410, "The upload was deleted: it expired, or its downloads are used up."),
    "spool_gone": Kind(410, "The received file is no longer kept; upload it again."),
    "link_expired": Kind(410, "This upload link expired."),
    "link_revoked": Kind(410, "This upload link was revoked by its owner."),
    "link_used_up": Kind(410, "This upload link took all the files or bytes it allows."),
    "length_required": Kind(411, "Send the body with a Content-Length."),
    "unsupported_tus_version": Kind(412, "Send 'Tus-Resumable: 1.0.0'."),
    "too_large": Kind(413, "The upload is larger than this server accepts."),
    "form_too_large": Kind(413, "A form field or a part's headers are too large."),
    "exceeds_upload_length": Kind(413, "The body goes past the upload's length."),
    "link_too_large": Kind(413, "The upload is larger than what this link has left."),
    "link_file_too_large": Kind(413, "The file is larger than this upload link allows."),
    "unsupported_media_type": Kind(415, "The body is not of the media type this route reads."),
    "range_not_satisfiable": Kind(416, "The range is outside the file."),
    "upload_locked": Kind(423, "Another request is writing to this upload; retry soon."),
    # 429: this client asks too much.
    "rate_limited": Kind(429, "Too many requests from this client; wait for Retry-After."),
    "too_many_pending": Kind(429, "This client has as many unfinished uploads as allowed."),
    "too_many_pending_bytes": Kind(
        429, "This client's unfinished uploads hold as much of the server's disk as allowed."
    ),
    "too_many_uploads": Kind(
        429, "This client is sending as many uploads at once as allowed.", SOON_SECONDS
    ),
    # 5xx: the server, or what it stores in.
    "internal_error": Kind(500, "Something went wrong on the server."),
    "spool_lost": Kind(500, "The received file is no longer on the server."),
    "storage_failed": Kind(502, "The storage backend failed."),
    "server_busy": Kind(503, "Every upload slot of this server is taken.", SOON_SECONDS),
    "store_unavailable": Kind(503, "The server cannot reach its job store.", SOON_SECONDS),
    "spool_unavailable": Kind(
        503, "The server cannot reach the bucket uploads land in; try again soon.", SOON_SECONDS
    ),
    "not_ready": Kind(
        503, "The server is not ready: see which checks failed.", SOON_SECONDS, "unavailable"
    ),
    "server_full": Kind(507, "The server is low on disk space."),
    "storage_full": Kind(507, "The storage account is full."),
    # Answered by the gunicorn worker, before Flask: the head took too long, or is not
    # HTTP (named after gunicorn's parse errors; the offending bytes are never quoted).
    "request_head_timeout": Kind(408, "The request head did not arrive in time."),
    "invalid_request_line": _not_http("invalid_request_line"),
    "invalid_request_method": _not_http("invalid_request_method"),
    "invalid_h_t_t_p_version": _not_http("invalid_h_t_t_p_version"),
    "invalid_header": _not_http("invalid_header"),
    "invalid_header_name": _not_http("invalid_header_name"),
    "obsolete_folding": _not_http("obsolete_folding"),
    "invalid_chunk_size": _not_http("invalid_chunk_size"),
    "invalid_chunk_extension": _not_http("invalid_chunk_extension"),
    "chunk_missing_terminator": _not_http("chunk_missing_terminator"),
    "invalid_proxy_line": _not_http("invalid_proxy_line"),
    "invalid_proxy_header": _not_http("invalid_proxy_header"),
    "invalid_scheme_headers": _not_http("invalid_scheme_headers"),
    "invalid_h2_c_preface": _not_http("invalid_h2_c_preface"),
    "configuration_problem": _not_http("configuration_problem"),
    "forbidden_proxy_request": _not_http("forbidden_proxy_request", 403),
    "limit_request_line": _not_http("limit_request_line", 414),
    "expectation_failed": _not_http("expectation_failed", 417),
    "limit_request_headers": _not_http("limit_request_headers", 431),
    "unsupported_transfer_coding": _not_http("unsupported_transfer_coding", 501),
}

#: What an error of a kind not in the table is: the server's fault.
UNKNOWN = KINDS["internal_error"]


def kind_of(error: str | None) -> Kind:
    return KINDS.get(error or "", UNKNOWN)


def status_of(error: str | None) -> int:
    """The HTTP status for a kind of failure; an unknown one is the server's fault."""
    return kind_of(error).status


def error_body(error: str, message: str | None = None, **extra: object) -> dict[str, object]:
    """Every error reply's JSON: ``{"status": "error", "error", "message", ...extra}``;
    without ``message``, the table's."""
    kind = kind_of(error)
    text = kind.message if message is None else message
    return {"status": kind.label, "error": error, "message": text, **extra}


class ApiError(Exception):
    """A refusal decided by the web layer itself (a bad header, a bad query): a kind
    from ``KINDS`` and a message for a person; ``retry_after`` when the wait is counted
    where it is decided (the wrong-token budget's window)."""

    def __init__(self, error: str, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.error, self.message, self.retry_after = error, message, retry_after
