"""How blueprints reach the use cases without importing the app: one container,
built once per process by create_app (the composition root)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from flask import current_app

from paimon.uploads.admission import UploadSlots
from paimon.uploads.intake import UploadService
from paimon.uploads.keeping import Keeper
from paimon.uploads.overview import Overview
from paimon.uploads.resumable import TusService
from paimon.uploads.transfers import TransferRunner
from paimon.webhooks.sender import WebhookSender

EXTENSION_KEY = "paimon"


class ClientLimits(Protocol):
    """Who the client is, and its wrong tokens counted per address
    (paimon/web/ratelimit.py)."""

    def key(self) -> str:
        """The client: a reference to its valid token, else its address."""

    def check(self) -> None:
        """Refuse (429) a client address that used up its budget of wrong tokens."""

    def spend(self) -> None:
        """Count one wrong token against the client address."""


@dataclass(frozen=True)
class Services:
    """The use cases, and the few settings the HTTP layer itself needs."""

    uploads: UploadService
    resumable: TusService
    overview: Overview
    keeper: Keeper  # downloads counted against their limit
    transfers: TransferRunner  # started by create_app, handed back by the server's hooks
    upload_slots: UploadSlots  # the bodies this worker may receive at once
    token_digests: list[bytes]  # empty: uploads are open
    limits: ClientLimits
    public_url: str | None  # base of links; None: the request's own host
    max_upload_bytes: int
    max_files_per_request: int
    tus_chunk_bytes: int  # the upload page's tus PATCH size
    metrics_token_digests: list[bytes] = field(default_factory=list)  # empty: /metrics open
    webhooks: WebhookSender | None = None  # None: no PAIMON_WEBHOOK_URLS


def services() -> Services:
    return current_app.extensions[EXTENSION_KEY]
