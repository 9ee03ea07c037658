"""How blueprints reach the wired services without importing the app."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from paimon.config import Settings
from paimon.jobs.store import JobStore
from paimon.services.spool import Spool
from paimon.services.transfers import TransferRunner
from paimon.services.uploads import UploadService
from paimon.storage.base import StorageBackend

EXTENSION_KEY = "paimon"


@dataclass(frozen=True)
class Services:
    """Everything create_app wires together once per process."""

    settings: Settings
    spool: Spool
    storage: StorageBackend
    jobs: JobStore
    transfers: TransferRunner
    uploads: UploadService
    token_digests: list[bytes]  # empty: uploads are open


def services() -> Services:
    return current_app.extensions[EXTENSION_KEY]
