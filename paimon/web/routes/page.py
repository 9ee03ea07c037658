"""GET /: the upload page, plain static files (paimon/web/static/) with no build step."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

bp = Blueprint("page", __name__)


@bp.get("/")
def index() -> Response:
    return current_app.send_static_file("index.html")
