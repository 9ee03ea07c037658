"""PUT /upload/<filename>: `curl -T file URL/upload/` streams the body straight into the
spool and answers with the link and a newline, as transfer.sh does; JSON on request."""

from __future__ import annotations

from flask import Blueprint, Response, request

from paimon.web.auth import require_token, token_origin
from paimon.web.context import services
from paimon.web.headers import requested_keep
from paimon.web.placement import place
from paimon.web.replies import as_text, prefers_async, upload_reply, wants_text

bp = Blueprint("put", __name__)


@bp.put("/upload/<filename>")
@require_token
def put(filename: str) -> Response:
    text = wants_text(by_default=True)  # a bad ?format= is refused before the body is read
    uploads = services().uploads
    keep = requested_keep()
    uploads.check_can_accept(request.args.get("service"), request.content_length, keep)
    incoming = uploads.receive(
        request.stream,
        filename,
        request.content_length,
        services().identity.key(),
        keep,
        place(token_origin(), bundles=False).origin,
    )
    job = uploads.complete(incoming, wait=not prefers_async())
    reply = upload_reply(job, incoming.delete_token)
    reply.vary.add("Accept")
    return as_text(reply, [job]) if text else reply
