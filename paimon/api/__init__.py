"""The HTTP layer: thin blueprints that translate requests into service calls."""

from __future__ import annotations

from flask import Flask

from paimon.api import errors, files, health, metrics, page, put, status, tus, upload


def register(app: Flask) -> None:
    blueprints = (page.bp, upload.bp, put.bp, tus.bp, files.bp, status.bp, health.bp, metrics.bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    errors.register(app)
