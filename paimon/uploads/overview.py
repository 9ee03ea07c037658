"""What the server can say about itself: status, readiness, metrics and downloads of
locally stored files, each read from the parts that know it."""

from __future__ import annotations

import threading
import time

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
from paimon.uploads.readiness import (
    CheckResult,
    check_jobs,
    check_retries,
    check_spool,
    check_storage,
)

USAGE_MAX_AGE_SECONDS = 30.0  # how long a storage usage answer is shown before asking again
USAGE_WAIT_SECONDS = 0.05  # how long GET /status waits for a fresh answer, at most


class Overview:
    """Read-only questions about the server, for GET /status, /readyz, /metrics and
    /files/<key>."""

    def __init__(self, storage: StorageBackend, jobs: JobStore, spool: Spool, min_free: int):
        self._storage = storage
        self._jobs = jobs
        self._spool = spool
        self._min_free = min_free
        self._usage: StorageUsage | None = None
        self._usage_at = -USAGE_MAX_AGE_SECONDS  # monotonic time of the last answer
        self._usage_asked = threading.Event()  # set when no question is under way
        self._usage_asked.set()
        self._usage_lock = threading.Lock()

    @property
    def storage_name(self) -> str:
        return self._storage.name

    def job_counts(self) -> dict[JobState, int]:
        return self._jobs.counts()

    def storage_usage(self) -> StorageUsage | None:
        """The backend's last answer, at most USAGE_MAX_AGE_SECONDS old when it answers;
        None when it does not track usage or has not answered yet (/readyz names the
        problem). The backend is asked on a thread of its own and waited for only
        USAGE_WAIT_SECONDS: an unreachable MEGA keeps retrying for seconds, and GET
        /status must answer at once whatever it does."""
        with self._usage_lock:
            stale = time.monotonic() - self._usage_at >= USAGE_MAX_AGE_SECONDS
            if stale and self._usage_asked.is_set():
                self._usage_asked.clear()
                threading.Thread(target=self._ask_usage, name="storage-usage", daemon=True).start()
        if stale:
            self._usage_asked.wait(USAGE_WAIT_SECONDS)
        return self._usage

    def _ask_usage(self) -> None:
        try:
            self._usage = self._storage.usage()
        except StorageError:
            self._usage = None
        finally:
            self._usage_at = time.monotonic()
            self._usage_asked.set()

    def readiness(self) -> list[CheckResult]:
        """The spool has room, the job store and the storage backend answer, and the
        backend has not been failing transfers (jobs waiting for an automatic retry)."""
        storage = check_storage(self._storage)
        return [
            check_spool(self._spool.directory, self._min_free),
            check_jobs(self._jobs),
            check_retries(self._storage.name, self._jobs) if storage.ok else storage,
        ]

    def download(self, key: str) -> ServedFile | None:
        return served_file(self._storage, key)
