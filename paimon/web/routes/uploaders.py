"""GET /sharex.sxcu: a ready ShareX custom uploader for this server, so a ShareX user
imports one file instead of filling in a form by hand."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from paimon.web.context import services
from paimon.web.replies import absolute

bp = Blueprint("uploaders", __name__)

#: What ShareX sends when tokens are on; the user puts their own token in its place.
TOKEN_PLACEHOLDER = "Bearer YOUR-UPLOAD-TOKEN"  # noqa: S105  # not a secret: a blank to fill


@bp.get("/sharex.sxcu")
def sharex() -> Response:
    config: dict[str, object] = {
        "Version": "15.0.0",
        "Name": f"Paimon ({request.host})",
        "DestinationType": "ImageUploader, TextUploader, FileUploader",
        "RequestMethod": "POST",
        "RequestURL": absolute("/upload"),
        "Body": "MultipartFormData",
        "FileFormName": "file",
        "URL": "{json:link}",
        "DeletionURL": "{json:delete_url}",
        "ErrorMessage": "{json:message}",
    }
    if services().token_digests:
        config["Headers"] = {"Authorization": TOKEN_PLACEHOLDER}
    reply = jsonify(config)
    reply.headers["Content-Disposition"] = 'attachment; filename="paimon.sxcu"'
    return reply
