"""The Flask app around a ready set of services: the request class, Flask's own limits,
the request log, the blueprints, the error handlers and the defences. Nothing is built
or read from settings here: the composition root (paimon/bootstrap/wiring.py) builds
the services and calls this."""

from __future__ import annotations

from flask import Flask

from paimon.web import owners, requestlog, routes, security
from paimon.web.context import EXTENSION_KEY, Services
from paimon.web.forms import max_form_parts
from paimon.web.multipart import FORM_MEMORY_BYTES
from paimon.web.request import SpoolingRequest


def create_app(services: Services) -> Flask:
    """The app wired to ``services`` and ready for requests; it starts no thread."""
    app = Flask(__name__)
    app.request_class = SpoolingRequest
    # Flask's and werkzeug's own limits, which they read from app.config.
    app.config["MAX_CONTENT_LENGTH"] = services.max_upload_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = FORM_MEMORY_BYTES
    app.config["MAX_FORM_PARTS"] = max_form_parts(services.max_files_per_request)
    app.json.sort_keys = False
    requestlog.install(app)  # request ids, the request log, HTTP metrics
    app.extensions[EXTENSION_KEY] = services
    owners.register(app, services.session_key, services.admin_session_seconds)
    routes.register(app)
    security.register(app, services)
    return app
