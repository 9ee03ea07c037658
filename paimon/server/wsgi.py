"""The WSGI application gunicorn serves (wsgi.py): Paimon's Flask app behind the
slow-body guard, which needs gunicorn's socket and so lives here, not in the app."""

from __future__ import annotations

from flask import Flask

from paimon.config import load_settings_or_exit
from paimon.server.bodyguard import BodyGuard
from paimon.web.app import create_app


def application() -> Flask:
    settings = load_settings_or_exit()
    app = create_app(settings)
    app.wsgi_app = BodyGuard(app.wsgi_app, settings.body_timeout_seconds)  # type: ignore[method-assign]
    return app
