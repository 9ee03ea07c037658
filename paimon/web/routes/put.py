"""PUT /upload/<filename>: `curl -T file URL/upload/` streams the body straight into the
spool and answers with the link and a newline, as transfer.sh does; JSON on request."""

from __future__ import annotations

from flask import Blueprint, Response, make_response, request

from paimon.web.auth import require_token
from paimon.web.context import services
from paimon.web.errors import ApiError
from paimon.web.replies import finished, prefers_async

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


def as_text(reply: Response) -> Response:
    """The JSON reply's status and headers, its one useful line as the body: the link
    (200), the status URL (202), or the reason and the status URL (failures)."""
    data = reply.get_json()
    if reply.status_code == 200:
        text = data["link"]
    elif reply.status_code == 202:
        text = data["status_url"]
    else:
        text = f"{data['message']}\n{data['status_url']}"
    reply.set_data(f"{text}\n")
    reply.mimetype = "text/plain"
    return reply


@bp.put("/upload/<filename>")
@require_token
def put(filename: str) -> Response:
    json_reply = wants_json()  # a bad ?format= is refused before the body is read
    uploads = services().uploads
    uploads.check_can_accept(request.args.get("service"), request.content_length)
    receipt = uploads.receive(
        request.stream, filename, request.content_length, owner=services().limits.key()
    )
    reply = make_response(finished(uploads.complete(receipt, wait=not prefers_async())))
    reply.vary.add("Accept")
    return reply if json_reply else as_text(reply)
