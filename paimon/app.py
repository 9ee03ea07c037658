"""The application factory: wires settings, spool, storage and services once."""

from __future__ import annotations

import logging

from flask import Flask

from paimon import api
from paimon.api.auth import token_digests
from paimon.api.context import EXTENSION_KEY, Services
from paimon.api.forms import FORM_MEMORY_BYTES, MAX_FORM_PARTS
from paimon.api.security import register as register_security
from paimon.api.spooling import SpoolingRequest
from paimon.config import Settings, load_settings_or_exit
from paimon.jobs import build_job_store
from paimon.observability import http as request_observability
from paimon.observability.logs import configure_logging
from paimon.services.spool import Spool
from paimon.services.transfers import TransferRunner
from paimon.services.uploads import UploadService
from paimon.storage import build_storage

log = logging.getLogger("paimon")


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app and start serving: logging, the background transfers.
    Without settings, read them from the environment and end the process with one line
    per bad field if they do not validate."""
    settings = settings or load_settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    app = build_app(settings)
    services(app).transfers.start()  # in each worker: take over jobs a dead worker left

    log.info("storage backend: %s", services(app).storage.name)
    if not settings.auth_tokens:
        log.warning(
            "UPLOADS ARE OPEN: no PAIMON_AUTH_TOKENS set, anyone who can reach this "
            "server can upload"
        )
    return app


def services(app: Flask) -> Services:
    return app.extensions[EXTENSION_KEY]


def build_app(settings: Settings) -> Flask:
    """The app wired and ready for requests, with no thread started: what `paimon
    doctor` sends a probe download through, exactly as a server would."""
    app = Flask(__name__)
    app.request_class = SpoolingRequest
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = FORM_MEMORY_BYTES
    app.config["MAX_FORM_PARTS"] = MAX_FORM_PARTS
    app.json.sort_keys = False
    request_observability.install(app)  # request ids, the request log, HTTP metrics

    spool = Spool(settings.spool_dir)
    storage = build_storage(settings)
    jobs = build_job_store(settings)
    transfers = TransferRunner(
        jobs,
        storage,
        spool,
        concurrency=settings.transfer_concurrency,
        lease_seconds=settings.job_lease_seconds,
        retention_seconds=settings.retention_hours * 3600,
    )
    app.extensions[EXTENSION_KEY] = Services(
        settings=settings,
        spool=spool,
        storage=storage,
        jobs=jobs,
        transfers=transfers,
        uploads=UploadService(storage, spool, jobs, transfers, settings.min_free_bytes),
        token_digests=token_digests(settings.auth_tokens),
    )
    api.register(app)
    register_security(app, settings)
    return app
