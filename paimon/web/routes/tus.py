"""Resumable uploads with the tus 1.0.0 protocol at /tus/: core, creation,
creation-with-upload, termination, expiration and OPTIONS discovery.

The upload's URL is /tus/<job id>: once complete, GET /status/<job id> (also named by
each reply's `Link: <...>; rel="monitor"`) follows it to its link like any upload.
"""

from __future__ import annotations

import binascii
import io
from base64 import b64decode, b64encode

from flask import Blueprint, Response, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import http_date

from paimon.uploads.resumable import TusService, TusUpload
from paimon.web.auth import acting_client, check_token, require_token, token_origin
from paimon.web.context import services
from paimon.web.errors import ApiError
from paimon.web.handlers import error_response
from paimon.web.headers import header_int, requested_keep, require_media_type
from paimon.web.placement import place
from paimon.web.replies import absolute, delete_url

bp = Blueprint("tus", __name__, url_prefix="/tus")

OFFSET_TYPE = "application/offset+octet-stream"


TUS_VERSION = "1.0.0"
EXTENSIONS = ("creation", "creation-with-upload", "termination", "expiration")


def tus() -> TusService:
    return services().resumable


@bp.before_request
def _require_tus_version() -> Response | None:
    """Every request but OPTIONS says which protocol version it speaks (412 otherwise)."""
    if request.method == "OPTIONS" or request.headers.get("Tus-Resumable") == TUS_VERSION:
        return None
    refusal = error_response("unsupported_tus_version", f"Send 'Tus-Resumable: {TUS_VERSION}'.")
    refusal.headers["Tus-Version"] = TUS_VERSION
    return refusal


@bp.after_request
def _tus_resumable(response: Response) -> Response:
    response.headers["Tus-Resumable"] = TUS_VERSION
    return response


def metadata() -> dict[str, str]:
    """Upload-Metadata: comma-separated `key base64(value)` pairs (value optional)."""
    pairs: dict[str, str] = {}
    for item in filter(
        None, (p.strip() for p in request.headers.get("Upload-Metadata", "").split(","))
    ):
        key, _, value = item.partition(" ")
        try:  # a name that is not UTF-8 still names the file, less a few characters
            pairs[key] = b64decode(value.strip(), validate=True).decode(errors="replace")
        except binascii.Error:
            raise ApiError("bad_metadata", f"Upload-Metadata '{key}' is not base64.") from None
    return pairs


def body() -> io.BufferedIOBase:
    """The bytes to append: only a body typed as tus data counts as one."""
    return request.stream if request.mimetype == OFFSET_TYPE else io.BytesIO()


def reply(upload: TusUpload, status: int) -> Response:
    job = upload.job
    response = Response(status=status)
    response.headers["Upload-Offset"] = str(upload.offset)
    response.headers["Upload-Length"] = str(job.size)
    if upload.expires is not None:
        response.headers["Upload-Expires"] = http_date(upload.expires)
    status_url = absolute(url_for("status.job_status", job_id=job.id))
    response.headers["Link"] = f'<{status_url}>; rel="monitor"'
    response.headers["Cache-Control"] = "no-store"
    if upload.delete_token:  # the creation's reply: the one that can tell it
        response.headers["X-Url-Delete"] = delete_url(job, upload.delete_token)
    return response


@bp.route("/", methods=["OPTIONS"], provide_automatic_options=False)
@bp.route("/<job_id>", methods=["OPTIONS"], provide_automatic_options=False)
def discover(job_id: str | None = None) -> Response:
    response = Response(status=204)
    response.headers["Tus-Version"] = TUS_VERSION
    response.headers["Tus-Extension"] = ",".join(EXTENSIONS)
    response.headers["Tus-Max-Size"] = str(services().max_upload_bytes)
    return response


@bp.post("/")
@require_token
def create() -> Response:
    length = header_int("Upload-Length")
    if length > services().max_upload_bytes:
        raise RequestEntityTooLarge
    keep = requested_keep()
    services().uploads.check_can_accept(request.args.get("service"), length, keep)
    names = metadata()
    declared = request.content_length if request.mimetype == OFFSET_TYPE else 0
    name = names.get("filename") or names.get("name")
    owner = services().identity.key()
    asked = {"folder": names["folder"]} if names.get("folder") else None
    origin = place(token_origin(), asked, bundles=False).origin
    upload = tus().create(length, name, body(), declared, owner=owner, keep=keep, origin=origin)
    response = reply(upload, 201)
    response.headers["Location"] = absolute(url_for("tus.head", job_id=upload.job.id))
    return response


@bp.route("/<job_id>", methods=["HEAD"])
def head(job_id: str) -> Response:
    # The id is the key, so no token is needed; a wrong one is still refused and counted.
    check_token(required=False)
    upload = tus().head(job_id)
    response = reply(upload, 200)
    response.headers["Upload-Metadata"] = (
        "filename " + b64encode(upload.job.filename.encode()).decode()
    )
    return response


@bp.patch("/<job_id>")
@require_token
def patch(job_id: str) -> Response:
    require_media_type(OFFSET_TYPE, "A PATCH body")
    offset = header_int("Upload-Offset")
    upload = tus().append(
        job_id, offset, request.stream, request.content_length, client=acting_client()
    )
    return reply(upload, 204)


@bp.delete("/<job_id>")
@require_token
def terminate(job_id: str) -> Response:
    tus().terminate(job_id, client=acting_client())
    return Response(status=204)
