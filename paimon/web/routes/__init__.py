"""Thin blueprints, one module each, that translate requests into use-case calls."""

from __future__ import annotations

from flask import Flask

from paimon.web import handlers
from paimon.web.routes import (
    admin,
    api,
    delete,
    files,
    health,
    metrics,
    page,
    put,
    status,
    tus,
    upload,
    uploaders,
    uploadlinks,
    webhooks,
)


def register(app: Flask) -> None:
    blueprints = (
        page.bp,
        upload.bp,
        put.bp,
        tus.bp,
        files.bp,
        status.bp,
        health.bp,
        metrics.bp,
        uploaders.bp,
        delete.bp,
        admin.bp,
        api.bp,
        uploadlinks.bp,
        webhooks.bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    handlers.register(app)
