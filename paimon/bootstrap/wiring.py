"""Builds every part of Paimon from the settings, once per process, and wires them.

Each part gets the plain values it needs, never the settings: the job store and the
storage backend the settings choose, the spool, the disk reservations, the install's
secret, the transfer runner and its maintenance thread, the use cases, and the webhook
announcer and sender (PAIMON_WEBHOOK_URLS), collected in
the frozen ``Services`` container that ``paimon.web.app.create_app`` wraps. Calls go
downward from here: nothing this module builds imports it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from flask import Flask

from paimon.bootstrap import process
from paimon.bootstrap.installsecret import install_secret
from paimon.config import Settings
from paimon.jobs.model import JobState
from paimon.jobs.outbox import Announcer
from paimon.jobs.owners import LeaseOwners
from paimon.jobs.redis import RedisJobStore
from paimon.jobs.sqlite import SqliteJobStore
from paimon.jobs.store import JobStore
from paimon.observability.logs import configure_logging, set_reference_key
from paimon.spool.writer import Spool
from paimon.storage.base import StorageAuthError, StorageBackend
from paimon.storage.local import LocalStorage
from paimon.uploads.admission import UploadSlots
from paimon.uploads.checkpoints import Sealer
from paimon.uploads.console import Console
from paimon.uploads.deletion import Deletion
from paimon.uploads.intake import UploadService
from paimon.uploads.keeping import Keeper, KeepPolicy
from paimon.uploads.maintenance import Maintenance
from paimon.uploads.overview import Overview
from paimon.uploads.progress import ProgressWriter
from paimon.uploads.quota import StorageQuota
from paimon.uploads.refusals import RefusingStore
from paimon.uploads.reservations import Reservations
from paimon.uploads.resumable import TusService
from paimon.uploads.retries import Retries
from paimon.uploads.transfers import TransferRunner
from paimon.uploads.uploadlinks import UploadLinks
from paimon.web.app import create_app as wrap
from paimon.web.context import Services, services_of
from paimon.web.identity import ClientIdentity, TrustedProxies
from paimon.web.owners import session_key
from paimon.web.ratelimit import IN_MEMORY, UploadLimits
from paimon.web.tokens import TokenBook, token_digest
from paimon.webhooks.deliveries import Deliveries
from paimon.webhooks.events import LinkOf
from paimon.webhooks.sender import WebhookSender

if TYPE_CHECKING:  # MEGA is imported only when chosen (build_storage)
    from paimon.storage.mega.backend import MegaAccount

log = logging.getLogger("paimon")

SECONDS_PER_HOUR = 3600


def secret_value(secret: object) -> str:
    """A SecretStr's value, or '' when it is unset."""
    return secret.get_secret_value() if secret is not None else ""  # type: ignore[attr-defined]


def build_job_store(settings: Settings) -> JobStore:
    """Redis when ``PAIMON_REDIS_URL`` is set (several instances share it), else SQLite
    in the data directory (the gunicorn workers of one machine share it)."""
    redis_url = secret_value(settings.redis_url)
    if redis_url:
        return RedisJobStore(redis_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteJobStore(settings.data_dir / "jobs.sqlite3")


def build_lease_owners(settings: Settings) -> LeaseOwners:
    """Lease owners whose lock files are in ``<data dir>/owners``, beside the spool
    files their jobs transfer (paimon/jobs/owners.py)."""
    return LeaseOwners(settings.data_dir / "owners")


def mega_account(settings: Settings) -> MegaAccount:
    """The MEGA account the settings name; StorageAuthError without credentials."""
    from paimon.storage.mega.backend import MegaAccount
    from paimon.storage.mega.session import session_dir

    if missing := settings.missing_for_mega():
        raise StorageAuthError(f"MEGA storage needs {' and '.join(missing)}.")
    assert settings.mega_email and settings.mega_password  # checked just above
    return MegaAccount(
        api_url=settings.mega_api_url,
        email=settings.mega_email,
        password=settings.mega_password,
        folder=settings.mega_folder,
        session_dir=session_dir(settings.data_dir),
        totp_secret=settings.mega_totp_secret,
        upload_connections=settings.mega_upload_connections,
        thumbnails=settings.mega_thumbnails,
    )


def build_storage(settings: Settings, **mega_options: object) -> StorageBackend:
    """The backend the settings ask for; ``mega_options`` as for MegaStorage (tests
    shorten its retries). MEGA (mega.py and all) is imported only when chosen, so a
    local server, and ``paimon doctor``, run where it is broken."""
    if settings.storage_backend == "mega":
        from paimon.storage.mega import MegaStorage

        return MegaStorage(mega_account(settings), **mega_options)  # type: ignore[arg-type]
    if settings.storage_backend == "s3":
        return s3_storage(settings)
    return LocalStorage(settings.data_dir / "files")


def s3_storage(settings: Settings) -> StorageBackend:
    """Stored files in S3-compatible object storage; boto3 is imported only when chosen."""
    from paimon.storage.s3 import S3Location, S3Storage

    assert settings.stored_files_url  # load_settings requires it for s3
    presign = settings.s3_presign_seconds if settings.s3_downloads == "redirect" else 0
    return S3Storage(S3Location.parse(settings.stored_files_url), presign_seconds=presign)


def build_spool(settings: Settings) -> Spool:
    """The spool in object storage (PAIMON_SPOOL_URL), else a directory of the data dir."""
    if not settings.spool_url:
        return Spool(settings.spool_dir)
    from paimon.spool.objects import ObjectSpool
    from paimon.storage.s3 import S3Location

    location = S3Location.parse(settings.spool_url)
    return ObjectSpool(location, settings.spool_dir)  # type: ignore[return-value]


@dataclass(frozen=True)
class Adapters:
    """Where bytes and jobs go, built once per process."""

    spool: Spool
    storage: StorageBackend
    jobs: JobStore
    owners: LeaseOwners  # this process's lock file, and the judge of other owners'
    secret: bytes  # the install's own, from the data directory


def build_adapters(settings: Settings) -> Adapters:
    secret = install_secret(settings.data_dir)
    set_reference_key(secret)  # log lines name bearer secrets by their HMAC under it
    return Adapters(
        spool=build_spool(settings),
        storage=build_storage(settings),
        jobs=build_job_store(settings),
        owners=build_lease_owners(settings),
        secret=secret,
    )


def build_services(settings: Settings, adapters: Adapters | None = None) -> Services:
    """Every use case wired to the adapters (built from ``settings`` unless given),
    with nothing started: no thread runs until ``start``."""
    parts = adapters or build_adapters(settings)
    spool, storage, jobs, owners = parts.spool, parts.storage, parts.jobs, parts.owners
    asked = RefusingStore(jobs)  # the store as request handlers use it
    announcer = Announcer(
        tuple(settings.webhook_urls), settings.webhook_retry_hours * SECONDS_PER_HOUR
    )
    quota = StorageQuota(storage, settings.data_dir, settings.storage_min_free_bytes)
    keeper = Keeper(jobs, asked, storage, announcer, quota)  # type: ignore[arg-type]
    transfers = TransferRunner(
        jobs,
        storage,
        spool,
        owners=owners,
        concurrency=settings.transfer_concurrency,
        lease_seconds=settings.job_lease_seconds,
        retry_seconds=settings.retry_hours * SECONDS_PER_HOUR,
        sealer=Sealer(parts.secret),
        announce=announcer,
        quota=quota,
    )
    reservations = Reservations(
        spool, settings.min_free_bytes, settings.max_pending_uploads, settings.max_pending_share
    )
    keeping = KeepPolicy(storage, settings.max_days, settings.default_max_days)
    uploads = UploadService(
        storage=storage,
        spool=spool,
        jobs=asked,  # type: ignore[arg-type]
        transfers=transfers,
        reservations=reservations,
        progress=ProgressWriter(jobs),
        keeping=keeping,
        quota=quota,
    )
    # labelled: label=token; a label's default folder: PAIMON_TOKEN_FOLDERS
    upload_tokens = TokenBook(settings.auth_tokens, "token", settings.token_folders)
    digests = upload_tokens.digests
    identity = ClientIdentity(digests, TrustedProxies(settings.forwarded_allow_ips))
    deletion = Deletion(storage, spool, asked, announcer, quota)  # type: ignore[arg-type]
    retries = Retries(asked, transfers)  # type: ignore[arg-type]
    overview = Overview(
        storage,
        asked,  # type: ignore[arg-type]
        spool,
        settings.min_free_bytes,
        quota,
    )
    plan = process.worker_plan(settings)
    return Services(
        uploads=uploads,
        resumable=TusService(
            uploads,
            owners=owners,
            lease_seconds=settings.job_lease_seconds,
            expiry_seconds=settings.tus_idle_hours * SECONDS_PER_HOUR,
        ),
        deletion=deletion,
        retries=retries,
        overview=overview,
        keeper=keeper,
        transfers=transfers,
        maintenance=Maintenance(
            transfers,
            jobs,
            spool,
            owners=owners,
            lease_seconds=settings.job_lease_seconds,
            retention_seconds=settings.retention_hours * SECONDS_PER_HOUR,
            keeper=keeper,
        ),
        upload_slots=UploadSlots(plan.upload_slots, settings.max_uploads_per_client),
        identity=identity,
        limits=UploadLimits(
            identity,
            settings.rate_limit_uploads,
            secret_value(settings.redis_url) or IN_MEMORY,
        ),
        token_digests=digests,
        upload_tokens=upload_tokens,
        owners=TokenBook(settings.admin_tokens, "admin"),
        console=Console(
            jobs,  # type: ignore[arg-type]
            spool=spool,
            reservations=reservations,
            deletion=deletion,
            retries=retries,
            overview=overview,
            min_free_bytes=settings.min_free_bytes,
        ),
        upload_links=UploadLinks(jobs, parts.secret, storage, keeping),  # type: ignore[arg-type]
        session_key=session_key(parts.secret),
        admin_session_seconds=settings.admin_session_hours * SECONDS_PER_HOUR,
        public_url=settings.public_url,
        allowed_hosts=settings.allowed_hosts,
        cors_origins=settings.cors_origins,
        max_upload_bytes=settings.max_upload_bytes,
        max_files_per_request=settings.max_files_per_request,
        tus_chunk_bytes=settings.tus_chunk_bytes,
        metrics_token_digests=(
            [token_digest(settings.metrics_token.get_secret_value())]
            if settings.metrics_token
            else []
        ),
        webhooks=webhook_sender(settings, jobs, owners, announcer),
        deliveries=Deliveries(asked, announcer) if announcer.endpoints else None,  # type: ignore[arg-type]
    )


def webhook_sender(
    settings: Settings, jobs: JobStore, owners: LeaseOwners, announcer: Announcer
) -> WebhookSender | None:
    """This worker's webhook sender, when PAIMON_WEBHOOK_URLS names endpoints (the
    settings checked them and the secret at start). Its links are the backends' own
    until ``build_app`` gives it the app's download route."""
    if not announcer.endpoints or settings.webhook_secret is None:
        return None
    return WebhookSender(
        jobs,
        announcer,
        settings.webhook_secret.get_secret_value(),
        owners,
        stored_link_of(None, settings.public_url),
        allow_private=settings.webhook_allow_private,
        retention_seconds=settings.retention_hours * SECONDS_PER_HOUR,
    )


def stored_link_of(app: Flask | None, public_url: str | None) -> LinkOf:
    """An event's link, outside any request: the backend's own, or ``app``'s download
    route under PAIMON_PUBLIC_URL (a path alone when it is not set)."""

    def link_of(job: dict[str, object]) -> str | None:
        path = job["link"]
        if not path and app is not None and job["state"] is JobState.DONE and job["storage_key"]:
            path = app.url_map.bind("localhost").build(
                "files.download", {"key": job["storage_key"]}
            )
        if not isinstance(path, str) or not path:
            return None
        return urljoin(public_url.rstrip("/") + "/", path.lstrip("/")) if public_url else path

    return link_of


def build_app(settings: Settings, adapters: Adapters | None = None) -> Flask:
    """The app wired and ready for requests, with no thread started: what `paimon
    doctor` sends a probe download through, exactly as a server would."""
    wired = build_services(settings, adapters)
    app = wrap(wired)
    if wired.webhooks is not None:  # the download route exists once the app does
        wired.webhooks.link_of = stored_link_of(app, settings.public_url)
    return app


def create_app(settings: Settings | None = None) -> Flask:
    """The app a server serves: logging set up, the app built, and this worker's
    maintenance thread started (it takes over jobs a dead worker left). Without
    settings, this process's (paimon/bootstrap/process.py); a bad one ends it."""
    settings = settings or process.settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    app = build_app(settings)
    wired = services_of(app)
    assert wired is not None
    wired.maintenance.start()
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


def stop(app: object) -> None:
    """Hand this worker's upload jobs back to the queue, so another worker, or the next
    start, resumes them at once instead of after their lease runs out (gunicorn's
    worker_exit hook). Nothing for an app that is not Paimon's."""
    wired = services_of(app)  # type: ignore[arg-type]
    if wired is not None:
        wired.maintenance.stop()
        wired.transfers.shutdown()
        if wired.webhooks is not None:
            wired.webhooks.stop()
