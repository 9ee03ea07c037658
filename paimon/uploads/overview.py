"""What the server can say about itself: status, readiness and metrics, each read
from the parts that know it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from paimon.jobs.model import JobState
from paimon.jobs.store import JobStore
from paimon.spool.writer import Spool
from paimon.storage.base import (
    StorageBackend,
    StorageError,
    StorageUsage,
)
from paimon.uploads.quota import Space, StorageQuota
from paimon.uploads.readiness import (
    CheckResult,
    check_jobs,
    check_retries,
    check_spool,
    check_storage,
    check_storage_space,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# A storage backend that does not answer keeps retrying for seconds (MEGA's client backs
# off up to six times), so GET /status and /readyz never wait for it: they show its
# last answer, at most this old when it answers, and wait this long for a fresh one.
USAGE_MAX_AGE_SECONDS = 30.0
USAGE_WAIT_SECONDS = 0.05  # GET /status answers within 100 ms
CHECK_MAX_AGE_SECONDS = 5.0  # a backend that is back is seen ready within seconds
LEDGER_MAX_AGE_SECONDS = 1.0  # the quota ledger, kept current after transfers and deletes
CHECK_WAIT_SECONDS = 3.0  # a first login takes a second or two


class _LastAnswer(Generic[T]):
    """The last answer to a slow question, asked on a thread of its own, one at a time."""

    def __init__(self, ask: Callable[[], T], *, max_age: float, wait: float, name: str):
        self._ask, self._max_age, self._wait, self._name = ask, max_age, wait, name
        self._answer: T | None = None
        self._answered_at = -max_age  # monotonic
        self._idle = threading.Event()  # no question under way
        self._idle.set()
        self._lock = threading.Lock()

    def get(self, wait: float | None = None) -> T | None:
        """A fresh answer if it comes within ``wait`` (default: the one it was made
        with), else the last one (None before the first)."""
        with self._lock:
            stale = time.monotonic() - self._answered_at >= self._max_age
            if stale and self._idle.is_set():
                self._idle.clear()
                threading.Thread(target=self._refresh, name=self._name, daemon=True).start()
        if stale:
            self._idle.wait(self._wait if wait is None else wait)
        return self._answer

    def _refresh(self) -> None:
        try:
            self._answer = self._ask()
        except Exception:  # a bug in a backend must not leave the question asked forever
            log.exception("%s failed", self._name)
            self._answer = None
        finally:
            self._answered_at = time.monotonic()
            self._idle.set()


class Overview:
    """Read-only questions about the server, for GET /status, /readyz and /metrics."""

    def __init__(
        self,
        storage: StorageBackend,
        jobs: JobStore,
        spool: Spool,
        min_free: int,
        quota: StorageQuota | None = None,
    ):
        self._storage = storage
        self._quota = quota  # the account's usage as admission keeps it current
        self._jobs = jobs  # as request handlers use it (RefusingStore)
        self._spool = spool
        self._min_free = min_free
        self._usage = _LastAnswer(
            self._ask_usage,
            # With a quota ledger, asking is reading it (the backend only when stale).
            max_age=USAGE_MAX_AGE_SECONDS if quota is None else LEDGER_MAX_AGE_SECONDS,
            wait=USAGE_WAIT_SECONDS,
            name="storage-usage",
        )
        self._check = _LastAnswer(
            lambda: check_storage(storage),
            max_age=CHECK_MAX_AGE_SECONDS,
            wait=CHECK_WAIT_SECONDS,
            name="storage-check",
        )

    @property
    def storage_name(self) -> str:
        return self._storage.name

    def job_counts(self) -> dict[JobState, int]:
        return self._jobs.counts()

    def storage_usage(self, wait: float | None = None) -> StorageUsage | None:
        """None when the backend does not track it, or has not answered (lately, or
        within ``wait`` seconds): /readyz names the problem; status stays answerable at
        once."""
        return self._usage.get(wait)

    def _ask_usage(self) -> StorageUsage | None:
        try:
            return self._quota.usage() if self._quota else self._storage.usage()
        except StorageError:
            return None

    def storage_space(self) -> Space | None:
        """The account's free space less what transfers were promised (when tracked)."""
        return self._quota.known() if self._quota is not None else None

    def readiness(self) -> list[CheckResult]:
        """The spool has room, the job store and the storage backend answer (within
        CHECK_WAIT_SECONDS), and the backend has not been failing transfers (jobs
        waiting for an automatic retry)."""
        storage = self._check.get() or CheckResult(
            "storage", False, f"{self._storage.name} does not answer (checked in the background)"
        )
        results = [
            check_spool(self._spool, self._min_free, shown="the spool"),
            check_jobs(self._jobs),
            check_retries(self._storage.name, self._jobs) if storage.ok else storage,
        ]
        space = self.storage_space() if storage.ok else None  # a backend that tells it
        if space is not None and self._quota is not None:
            results.append(check_storage_space(space, self._quota.low_bytes))
        return results
