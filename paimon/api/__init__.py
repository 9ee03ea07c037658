"""The HTTP layer: thin blueprints that translate requests into service calls."""

from __future__ import annotations

from flask import Flask

from paimon.api import errors, files, health, status, upload


def register(app: Flask) -> None:
    for blueprint in (upload.bp, files.bp, status.bp, health.bp):
        app.register_blueprint(blueprint)
    errors.register(app)
