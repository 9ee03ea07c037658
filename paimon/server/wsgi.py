"""The WSGI application gunicorn serves (wsgi.py): Paimon's Flask app, as the
composition root builds it, behind the slow-body guard, which needs gunicorn's socket
and so lives here, not in the app."""

from __future__ import annotations

from flask import Flask

from paimon.bootstrap import process
from paimon.bootstrap.wiring import create_app
from paimon.server.bodyguard import BodyGuard


def application() -> Flask:
    settings = process.settings_or_exit()
    app = create_app(settings)
    app.wsgi_app = BodyGuard(app.wsgi_app, settings.body_timeout_seconds)  # type: ignore[method-assign]
    return app
