"""PUT /upload/<filename>: `curl -T file URL/upload/` streams the body straight into the
spool and answers with the link and a newline, as transfer.sh does; JSON on request."""

from __future__ import annotations

from flask import Blueprint, Response, request

from paimon.jobs.model import Job, JobState
from paimon.web.auth import require_token
from paimon.web.context import services
from paimon.web.errors import ApiError
from paimon.web.replies import finished, link_of, prefers_async, status_url

bp = Blueprint("put", __name__)


FORMATS = ("text", "json")


def wants_json() -> bool:
    """`?format=json|text`, else an Accept preferring JSON; curl's `*/*` gets text."""
    if "format" in request.args:
        if request.args["format"] not in FORMATS:
            raise ApiError(400, "bad_format", "'format' must be 'text' or 'json'.")
        return request.args["format"] == "json"
    best = request.accept_mimetypes.best_match(["text/plain", "application/json"])
    return best == "application/json"


def as_text(reply: Response, job: Job) -> Response:
    """The reply's status and headers, with the job's one useful line as the body: the
    link (stored), the reason and the status URL (failed), else the status URL."""
    if job.state is JobState.DONE:
        text = link_of(job)
    elif job.state is JobState.FAILED:
        text = f"{job.error}\n{status_url(job)}"
    else:
        text = status_url(job)
    reply.set_data(f"{text}\n")
    reply.mimetype = "text/plain"
    return reply


@bp.put("/upload/<filename>")
@require_token
def put(filename: str) -> Response:
    json_reply = wants_json()  # a bad ?format= is refused before the body is read
    uploads = services().uploads
    uploads.check_can_accept(request.args.get("service"), request.content_length)
    incoming = uploads.receive(
        request.stream, filename, request.content_length, owner=services().limits.key()
    )
    job = uploads.complete(incoming, wait=not prefers_async())
    reply = finished(job, incoming.delete_token)
    reply.vary.add("Accept")
    return reply if json_reply else as_text(reply, job)
