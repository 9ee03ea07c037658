"""How blueprints reach the use cases without importing the app: one frozen container,
built once per process by the composition root (paimon/bootstrap/wiring.py) and
wrapped by create_app (app.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:  # the container names its parts; they import this module's services()
    from paimon.uploads.admission import UploadSlots
    from paimon.uploads.console import Console
    from paimon.uploads.deletion import Deletion
    from paimon.uploads.intake import UploadService
    from paimon.uploads.keeping import Keeper
    from paimon.uploads.maintenance import Maintenance
    from paimon.uploads.overview import Overview
    from paimon.uploads.resumable import TusService
    from paimon.uploads.retries import Retries
    from paimon.uploads.transfers import TransferRunner
    from paimon.uploads.uploadlinks import UploadLinks
    from paimon.web.identity import ClientIdentity
    from paimon.web.ratelimit import UploadLimits
    from paimon.web.tokens import TokenBook
    from paimon.webhooks.deliveries import Deliveries
    from paimon.webhooks.sender import WebhookSender

EXTENSION_KEY = "paimon"


@dataclass(frozen=True)
class Services:
    """The use cases, and the few plain values the HTTP layer itself needs."""

    uploads: UploadService
    resumable: TusService
    deletion: Deletion
    retries: Retries
    overview: Overview
    keeper: Keeper  # downloads counted against their limit
    transfers: TransferRunner  # handed back by the server's worker_exit hook
    maintenance: Maintenance  # started by the root's create_app, in each worker
    upload_slots: UploadSlots  # the bodies this worker may receive at once
    identity: ClientIdentity  # who the client is: its token's reference, else its address
    limits: UploadLimits  # uploads started, and wrong tokens, per client
    token_digests: list[bytes]  # empty: uploads are open
    upload_tokens: TokenBook  # the same tokens, with their holders' labels
    owners: TokenBook  # PAIMON_ADMIN_TOKENS; empty: no console, no API
    console: Console
    upload_links: UploadLinks
    session_key: bytes  # signs the owners' session cookies (from the install's secret)
    admin_session_seconds: float  # how long an owner's sign-in lasts
    public_url: str | None  # base of links; None: the request's own host
    allowed_hosts: list[str]  # Host names answered when links come from Host; empty: any
    cors_origins: list[str]  # origins whose pages may upload with fetch; empty: no CORS
    max_upload_bytes: int
    max_files_per_request: int
    tus_chunk_bytes: int  # the upload page's tus PATCH size
    metrics_token_digests: list[bytes] = field(default_factory=list)  # empty: /metrics open
    webhooks: WebhookSender | None = None  # None: no PAIMON_WEBHOOK_URLS
    deliveries: Deliveries | None = None  # the owner's view of them; None: no webhooks


def services() -> Services:
    """The container of the app serving this request."""
    return current_app.extensions[EXTENSION_KEY]


def services_of(app: Flask) -> Services | None:
    """The container an app wraps (None for any other WSGI app): for code outside a
    request, such as gunicorn's worker_exit hook."""
    extensions = getattr(app, "extensions", {})
    return extensions.get(EXTENSION_KEY)
