"""Each worker's maintenance thread: what keeps jobs moving when nobody asks.

Every third of a lease it renews the leases of this worker's transfers (the
heartbeat), takes over queued or transferring jobs whose lease ran out (their worker
died), queues again the failed jobs whose automatic retry is due, removes the stored
uploads whose time or downloads are up (keeping.py), and purges what retention allows.
So a job survives a killed worker, a deploy, a restart or a storage outage, and exactly
one worker resumes it. The transfers themselves are the runner's (transfers.py).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

from paimon.jobs.model import Job
from paimon.jobs.owners import LeaseOwners
from paimon.jobs.store import JobStore, StateConflict
from paimon.observability.logs import reference
from paimon.spool.writer import Spool
from paimon.storage.base import StorageError
from paimon.uploads.keeping import Keeper
from paimon.uploads.transfers import TransferRunner

log = logging.getLogger(__name__)


class Maintenance:
    """The maintenance thread of one worker, around its TransferRunner."""

    def __init__(
        self,
        runner: TransferRunner,
        store: JobStore,
        spool: Spool,
        *,
        owners: LeaseOwners,
        lease_seconds: float,
        retention_seconds: float,
        keeper: Keeper | None = None,
    ):
        self.runner = runner
        self.store = store
        self.spool = spool
        self.owners = owners  # judges whether other workers' lease owners still live
        self.lease_seconds = lease_seconds
        self.retention_seconds = retention_seconds
        self.keeper = keeper  # its sweep runs with the heartbeat
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Take over orphaned jobs now, then keep doing it with the heartbeat."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._maintain, name="transfer-maintenance", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """No further pass (called from gunicorn's worker_exit hook, with the runner's
        shutdown)."""
        self._stopping.set()

    def _maintain(self) -> None:
        interval = max(self.lease_seconds / 3, 0.05)
        next_purge = 0.0
        while not self._stopping.is_set():
            try:
                self.runner.heartbeat()
                # Dead workers (a crash, the OOM killer, the whole server killed, before
                # this one started or since) left leases: every pass gives them back,
                # so that their jobs are taken over at once, just below.
                self.owners.release_dead_leases(self.store)
                self.take_over_orphans()
                self.retry_due()
                if self.keeper is not None:
                    self.keeper.sweep(time.time())
                if time.monotonic() >= next_purge:
                    self.purge_expired()
                    next_purge = time.monotonic() + min(self.retention_seconds / 4, 600)
            except Exception:  # the store may be briefly unreachable; keep going
                log.exception("job maintenance failed; retrying")
            self._stopping.wait(interval)

    def take_over_orphans(self) -> None:
        """Resume queued or transferring jobs whose worker is gone, as many as this
        worker has free transfer slots: the others take the rest on their next pass,
        instead of one worker queueing them all while the others idle.

        Only jobs whose spool file is on this machine can be resumed here.
        """
        for job_id in self.store.resumable(time.time()):
            if self.runner.busy() >= self.runner.concurrency:
                return
            job = self.store.get(job_id)
            here = job and self._spool_here(job)
            if here and self.runner.submit(job_id):
                log.info("took over job %s", reference(job_id))

    def retry_due(self) -> None:
        """Queue again the failed jobs whose automatic retry is due, oldest first; of
        all workers, the one whose requeue lands runs it. Only jobs whose spool file is
        on this machine can be retried here."""
        now = time.time()
        due = sorted((at, job_id) for job_id, at in self.store.awaiting_retry().items())
        for at, job_id in due:
            if at > now:
                break
            job = self.store.get(job_id)
            if job and self._spool_here(job):
                with contextlib.suppress(StateConflict):  # another worker was first
                    self.runner.requeue_failed(job_id)
                    log.info("retrying job %s automatically", reference(job_id))

    def _spool_here(self, job: Job) -> bool:
        """The job's spool file is on this machine, or its spool object in a bucket
        that answers now (one that does not: not now, and no traceback every pass)."""
        try:
            return bool(job.spool_path) and self.spool.source(job.spool_path).exists()
        except StorageError:
            return False

    def purge_expired(self) -> None:
        """Forget finished jobs, receives that stalled (their worker died mid-body, or
        their client gave up), and spool files, older than retention."""
        cutoff = time.time() - self.retention_seconds
        expired = self.store.purgeable_before(cutoff) + self.store.stale_receiving(cutoff)
        for job in expired:
            if job.spool_path:
                self.spool.delete(job.spool_path)
            self.store.delete(job.id)
        active = self.store.active_spool_paths()
        for path in self.spool.files():
            try:
                old = path.stat().st_mtime < cutoff
            except FileNotFoundError:
                continue
            if old and str(path) not in active:
                self.spool.delete(path)
