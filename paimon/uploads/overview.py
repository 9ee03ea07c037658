"""What the server can say about itself: status, readiness, metrics and downloads of
locally stored files, each read from the parts that know it."""

from __future__ import annotations

from paimon.jobs.model import JobState
from paimon.jobs.store import JobStore
from paimon.spool.writer import Spool
from paimon.storage.base import (
    ServedFile,
    StorageBackend,
    StorageError,
    StorageUsage,
    served_file,
)
from paimon.uploads.readiness import CheckResult, check_jobs, check_spool, check_storage


class Overview:
    """Read-only questions about the server, for GET /status, /readyz, /metrics and
    /files/<key>."""

    def __init__(self, storage: StorageBackend, jobs: JobStore, spool: Spool, min_free: int):
        self._storage = storage
        self._jobs = jobs
        self._spool = spool
        self._min_free = min_free

    @property
    def storage_name(self) -> str:
        return self._storage.name

    def job_counts(self) -> dict[JobState, int]:
        return self._jobs.counts()

    def storage_usage(self) -> StorageUsage | None:
        """None when the backend does not track it or cannot answer now (/readyz names
        the problem; status stays answerable)."""
        try:
            return self._storage.usage()
        except StorageError:
            return None

    def readiness(self) -> list[CheckResult]:
        """The spool has room, the job store and the storage backend answer."""
        return [
            check_spool(self._spool, self._min_free),
            check_jobs(self._jobs),
            check_storage(self._storage),
        ]

    def download(self, key: str) -> ServedFile | None:
        return served_file(self._storage, key)
