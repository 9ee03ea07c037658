"""The application factory and composition root: settings in, every adapter (spool,
storage, job store) built once and wired into the use cases the blueprints see."""

from __future__ import annotations

import logging
from urllib.parse import urljoin

from flask import Flask

from paimon import capacity
from paimon.config import Settings, load_settings_or_exit
from paimon.jobs import build_job_store, build_lease_owners
from paimon.jobs.model import JobState
from paimon.jobs.outbox import Announcer
from paimon.jobs.owners import LeaseOwners
from paimon.jobs.store import JobStore
from paimon.observability.logs import configure_logging, set_reference_key
from paimon.spool.writer import Spool
from paimon.storage import build_storage
from paimon.uploads.admission import UploadSlots
from paimon.uploads.checkpoints import Sealer
from paimon.uploads.intake import UploadService
from paimon.uploads.keeping import Keeper, KeepPolicy
from paimon.uploads.overview import Overview
from paimon.uploads.resumable import TusService
from paimon.uploads.transfers import TransferRunner
from paimon.web import requestlog, routes
from paimon.web.auth import token_digests
from paimon.web.context import EXTENSION_KEY, Services
from paimon.web.forms import FORM_MEMORY_BYTES, max_form_parts
from paimon.web.installsecret import install_secret
from paimon.web.ratelimit import UploadLimits
from paimon.web.request import SpoolingRequest
from paimon.web.security import register as register_security
from paimon.webhooks.events import LinkOf
from paimon.webhooks.sender import WebhookSender

log = logging.getLogger("paimon")


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app and start serving: logging, the background transfers.
    Without settings, read them from the environment and end the process with one line
    per bad field if they do not validate."""
    settings = settings or load_settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    app = build_app(settings)
    wired = services(app)
    wired.transfers.start()  # in each worker: take over jobs a dead worker left
    if wired.webhooks is not None:
        wired.webhooks.start()  # in each worker: any of them sends any delivery

    log.info("storage backend: %s", wired.overview.storage_name)
    if not settings.public_url and not settings.allowed_hosts:
        log.warning(
            "links are built from each request's Host header, which the client chooses: "
            "set PAIMON_PUBLIC_URL (the base of every link) or PAIMON_ALLOWED_HOSTS (the "
            "hosts this server answers to)"
        )
    if not settings.auth_tokens:
        log.warning(
            "UPLOADS ARE OPEN: no PAIMON_AUTH_TOKENS set, anyone who can reach this "
            "server can upload"
        )
    return app


def services(app: Flask) -> Services:
    return app.extensions[EXTENSION_KEY]


def upload_slots(settings: Settings) -> UploadSlots:
    """This worker's share of the upload slots: the same count of workers gunicorn.conf.py
    decides, from the same settings and the same container."""
    workers, _ = capacity.choose_workers(settings.workers)
    return UploadSlots(
        capacity.upload_slots_per_worker(settings.max_concurrent_uploads, workers),
        settings.max_uploads_per_client,
    )


def build_app(settings: Settings) -> Flask:
    """The app wired and ready for requests, with no thread started: what `paimon
    doctor` sends a probe download through, exactly as a server would."""
    secret = install_secret(settings.data_dir)
    set_reference_key(secret)
    app = Flask(__name__)
    app.request_class = SpoolingRequest
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = FORM_MEMORY_BYTES
    app.config["MAX_FORM_PARTS"] = max_form_parts(settings.max_files_per_request)
    app.json.sort_keys = False
    requestlog.install(app)  # request ids, the request log, HTTP metrics

    spool = Spool(settings.spool_dir)
    storage = build_storage(settings)
    jobs = build_job_store(settings)
    owners = build_lease_owners(settings)
    announcer = Announcer(tuple(settings.webhook_urls), settings.webhook_retry_hours * 3600)
    keeper = Keeper(jobs, storage, announcer)
    transfers = TransferRunner(
        jobs,
        storage,
        spool,
        owners=owners,
        concurrency=settings.transfer_concurrency,
        lease_seconds=settings.job_lease_seconds,
        retention_seconds=settings.retention_hours * 3600,
        retry_seconds=settings.retry_hours * 3600,
        keeper=keeper,
        sealer=Sealer(secret),
        announce=announcer,
    )
    limits = UploadLimits(settings)
    uploads = UploadService(
        storage,
        spool,
        jobs,
        transfers,
        settings.min_free_bytes,
        settings.max_pending_uploads,
        KeepPolicy(storage, settings.max_days, settings.default_max_days),
        settings.max_pending_share,
    )
    app.extensions[EXTENSION_KEY] = Services(
        uploads=uploads,
        resumable=TusService(
            uploads,
            owners=owners,
            lease_seconds=settings.job_lease_seconds,
            expiry_seconds=settings.tus_idle_hours * 3600,
        ),
        overview=Overview(storage, jobs, spool, settings.min_free_bytes),
        keeper=keeper,
        transfers=transfers,
        upload_slots=upload_slots(settings),
        token_digests=token_digests(settings.auth_tokens),
        limits=limits,
        public_url=settings.public_url,
        max_upload_bytes=settings.max_upload_bytes,
        max_files_per_request=settings.max_files_per_request,
        tus_chunk_bytes=settings.tus_chunk_bytes,
        metrics_token_digests=token_digests(
            [settings.metrics_token] if settings.metrics_token else []
        ),
        webhooks=webhook_sender(app, settings, jobs, owners, announcer),
    )
    routes.register(app)
    register_security(app, settings, limits)
    return app


def webhook_sender(
    app: Flask, settings: Settings, jobs: JobStore, owners: LeaseOwners, announcer: Announcer
) -> WebhookSender | None:
    """This worker's webhook sender, when PAIMON_WEBHOOK_URLS names endpoints (the
    settings checked them and the secret at start)."""
    if not announcer.endpoints or settings.webhook_secret is None:
        return None
    return WebhookSender(
        jobs,
        announcer,
        settings.webhook_secret.get_secret_value(),
        owners,
        stored_link_of(app, settings.public_url),
        allow_private=settings.webhook_allow_private,
        retention_seconds=settings.retention_hours * 3600,
    )


def stored_link_of(app: Flask, public_url: str | None) -> LinkOf:
    """An event's link, outside any request: the backend's own, or this server's
    download route under PAIMON_PUBLIC_URL (a path alone when it is not set)."""

    def link_of(job: dict[str, object]) -> str | None:
        path = job["link"]
        if not path and job["state"] is JobState.DONE and job["storage_key"]:
            path = app.url_map.bind("localhost").build(
                "files.download", {"key": job["storage_key"]}
            )
        if not isinstance(path, str) or not path:
            return None
        return urljoin(public_url.rstrip("/") + "/", path.lstrip("/")) if public_url else path

    return link_of
