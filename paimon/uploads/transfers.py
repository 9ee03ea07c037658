"""Background transfers: spool file -> storage backend, never on a request thread.

Each worker process has one TransferRunner. A job is run only under a lease in the
job store, which the worker's maintenance thread renews (``heartbeat``; the thread,
which also takes over the jobs of dead workers and retries failed ones, is
maintenance.py). Every write a transfer makes to its job is fenced with the lease's
token: a worker that stalled past its lease cannot undo its successor's work.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from paimon.jobs.model import FINISHED, RESUMABLE, Job, JobState
from paimon.jobs.outbox import FAILED, SILENT, STORED, Announcement, Announcer
from paimon.jobs.owners import LeaseOwners
from paimon.jobs.store import Fence, JobNotFound, JobStore, LeaseLost, StateConflict
from paimon.observability.logs import reference
from paimon.spool.writer import ReceiveAborted, Spool
from paimon.storage.base import (
    StorageBackend,
    StorageError,
    StoreCancelled,
    StoresWhileReceiving,
    WaitForBytes,
)
from paimon.uploads.checkpoints import JobCheckpoint, Sealer
from paimon.uploads.job_events import record_transition
from paimon.uploads.quota import StorageQuota

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.5  # seconds between bytes_stored updates in the store
# Automatic retries of failed jobs: the first after about RETRY_FIRST_SECONDS, each later
# one twice as far, never more than RETRY_MAX_SECONDS apart; the jitter spreads jobs
# that failed together (one outage) so they do not all come back at the same moment.
RETRY_FIRST_SECONDS = 2.0
RETRY_MAX_SECONDS = 600.0
RETRY_JITTER_SECONDS = 2.0


def retry_delay(attempts: int) -> float:
    """Seconds from the ``attempts``-th failed attempt to the next automatic one
    (tenacity's wait, asked for one delay outside a retry loop). Imported here, not at
    the top: a broken tenacity must not stop the app from importing, so that `paimon
    doctor` can name it."""
    from tenacity import RetryCallState, Retrying, wait_exponential_jitter

    wait = wait_exponential_jitter(
        multiplier=RETRY_FIRST_SECONDS, max=RETRY_MAX_SECONDS, jitter=RETRY_JITTER_SECONDS
    )
    state = RetryCallState(Retrying(), None, (), {})
    state.attempt_number = max(attempts, 1)
    return wait(state)


def in_folder(job: Job) -> dict[str, str]:
    """The ``folder`` a backend is asked to store the job in: its upload link's, if
    any (only backends that StoresInFolders are ever given one)."""
    return {"folder": job.folder} if job.folder else {}


@dataclass(frozen=True)
class Growing:
    """A spool file whose body is still arriving: a pipelined transfer reads it as it
    grows. The job stays `receiving` until the body is complete."""

    size: int
    wait_for_bytes: WaitForBytes


@dataclass(frozen=True)
class _Running:
    future: Future
    fence: Fence
    abort: threading.Event
    # Set as soon as the job is finished, before its spool file is deleted and its lease
    # released (deleting a large file takes tens of ms); also when the run ends anyhow.
    settled: threading.Event


class TransferRunner:
    """Runs this worker's transfers and keeps its leases alive."""

    def __init__(
        self,
        store: JobStore,
        storage: StorageBackend,
        spool: Spool,
        *,
        owners: LeaseOwners,
        concurrency: int,
        lease_seconds: float,
        retry_seconds: float,
        sealer: Sealer | None = None,
        announce: Announcer = SILENT,
        quota: StorageQuota | None = None,
    ):
        self.store = store
        self.quota = quota  # told when a transfer ends: the account changed
        self.announce = announce  # upload.stored, and upload.failed once retries are over
        self.sealer = sealer  # seals transfer checkpoints; None: transfers do not resume
        self.storage = storage
        self.spool = spool
        self.lease_seconds = lease_seconds
        self.retry_seconds = retry_seconds
        self.owners = owners  # also judges whether other owners still live
        self.owner = owners.name()
        self.concurrency = concurrency
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="transfer")
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # Submitting and waiting ----------------------------------------------------------

    def submit(self, job_id: str, growing: Growing | None = None) -> bool:
        """Run a queued job here if this worker can take its lease; False otherwise.

        With ``growing``, start a receiving job's transfer while its body arrives, but
        only on a thread that is free now and never on the last free one: it holds its
        thread for as long as the body takes, and complete uploads must still get one.
        """
        if self._stopping.is_set():
            return False
        with self._lock:  # _run's cleanup waits for this lock: the entry is in first
            if job_id in self._running:
                return True
            busy = self.busy()
            if growing is not None and busy >= self.concurrency - 1:
                return False  # (a settled job's thread is only cleaning up: as good as free)
            token = self.store.acquire_lease(job_id, self.owner, self.lease_seconds)
            if token is None:
                return False
            fence = Fence(self.owner, token)
            abort, settled = threading.Event(), threading.Event()
            try:
                future = self._executor.submit(self._run, job_id, fence, abort, growing)
            except RuntimeError:  # the executor shut down in between
                self.store.release_lease(job_id, self.owner)
                return False
            future.add_done_callback(lambda _: settled.set())  # also if it never ran
            self._running[job_id] = _Running(future, fence, abort, settled)
        return True

    def settle(self, job_id: str) -> Job | None:
        """Wait until this worker's run of the job, if it has one, is over (finished, or
        given up); the job as the store then has it. _run records every outcome."""
        running = self._running.get(job_id)
        if running is not None:
            running.settled.wait()
        return self.store.get(job_id)

    def wait(self, job_id: str, poll_seconds: float = 0.2) -> Job:
        """Block until the job is finished and return it, wherever it runs."""
        job = self.settle(job_id)
        while job is not None and job.state not in FINISHED and not self._stopping.is_set():
            time.sleep(poll_seconds)
            job = self.store.get(job_id)
        return job

    # One transfer --------------------------------------------------------------------

    def _run(
        self, job_id: str, fence: Fence, abort: threading.Event, growing: Growing | None
    ) -> None:
        try:
            job = self.store.get(job_id)
            if job is None or job.state in FINISHED:
                return
            self._transfer(job, fence, abort, growing)
        except (ReceiveAborted, JobNotFound):
            pass  # pipelined, and the client went away: the upload is being dropped
        except LeaseLost:  # another worker has the job now: leave everything to it
            log.warning("job %s was taken over; this worker stops its transfer", reference(job_id))
        except StoreCancelled:  # this worker gave the job up (stopping)
            self._requeue(job_id, fence)
        except Exception:  # a bug must not leave the job looking alive forever
            log.exception("transfer of job %s failed unexpectedly", reference(job_id))
            self._fail(job_id, fence, "The transfer failed unexpectedly.", "internal_error", True)
        finally:
            with self._lock:
                self._running.pop(job_id, None)
            self.store.release_lease(job_id, self.owner)

    def _transfer(
        self, job: Job, fence: Fence, abort: threading.Event, growing: Growing | None
    ) -> None:
        assert job.spool_path is not None
        source = self.spool.source(job.spool_path)
        if not source.exists():
            self._fail(job.id, fence, "The received file is no longer on the server.", "spool_lost")
            return
        if growing is None:
            previous = job.state
            job = self.store.update(
                job.id,
                expect=RESUMABLE,
                fence=fence,
                state=JobState.TRANSFERRING,
                attempts=job.attempts + 1,
                bytes_stored=0,
                resumed_from=None,
                error=None,
                error_code=None,
                retryable=None,
            )
            record_transition(job, previous)
        else:  # UploadService moves it on to `transferring` once the body is complete,
            # which for a short body may be before this thread starts (we hold the lease)
            job = self.store.update(
                job.id,
                expect={JobState.RECEIVING, JobState.TRANSFERRING},
                fence=fence,
                attempts=job.attempts + 1,
                bytes_stored=0,
            )
        reported = [0.0]
        total = job.size if growing is None else growing.size

        def progress(acknowledged: int) -> None:
            if abort.is_set():
                raise StoreCancelled
            now = time.monotonic()
            # The last report always goes to the store, fenced: a worker that stalled past
            # its lease learns it here, before the backend makes the object (MEGA's `p`).
            last = total is not None and acknowledged >= total
            if last or now - reported[0] >= PROGRESS_INTERVAL:
                reported[0] = now
                self.store.update(job.id, fence=fence, bytes_stored=acknowledged)

        checkpoint = JobCheckpoint(self.store, job, fence, self.sealer) if self.sealer else None
        started = time.monotonic()
        try:
            if growing is None:  # a job tried before may have its object, or a checkpoint
                stored = self.storage.store(
                    source,
                    job.filename,
                    progress,
                    job_id=job.id,
                    resumed=job.attempts > 1,
                    checkpoint=checkpoint,
                    **in_folder(job),
                )
            else:
                assert isinstance(self.storage, StoresWhileReceiving)
                stored = self.storage.store_growing(
                    source,
                    job.filename,
                    growing.size,
                    growing.wait_for_bytes,
                    progress,
                    job_id=job.id,
                    checkpoint=checkpoint,
                    **in_folder(job),
                )
        except BaseException as exc:
            if checkpoint:  # handed back, failed, or lost: the next attempt goes on from it
                checkpoint.flush()
            if not isinstance(exc, StorageError):
                raise
            if abort.is_set():  # failed because this worker was stopping it
                raise StoreCancelled from exc
            seconds = time.monotonic() - started
            self._transfer_ended(job.id)
            self._fail(job.id, fence, exc.message, exc.code, exc.retryable, seconds)
            return
        self._transfer_ended(job.id)
        self._change(  # from `receiving` when a pipelined transfer beats the fsync
            job.id,
            fence,
            seconds=time.monotonic() - started,
            announce=self.announce(STORED),
            state=JobState.DONE,
            stored_at=time.time(),
            bytes_stored=stored.size,
            link=stored.link,
            storage_key=stored.key,
            transfer_state=None,
        )
        self.spool.delete(source)  # only now: the backend has confirmed the object

    def _transfer_ended(self, job_id: str) -> None:
        """The account's free space is asked again, the job's promise dropped."""
        if self.quota is None:
            return
        try:
            self.quota.transfer_ended(job_id)
        except OSError:  # the ledger's disk: admission asks MEGA again when it is stale
            log.warning("could not update the storage quota ledger", exc_info=True)

    def _fail(
        self,
        job_id: str,
        fence: Fence,
        message: str,
        code: str,
        retryable: bool = False,
        seconds: float | None = None,
    ) -> None:
        """Record a failure; the spool file stays for a retry until retention, and a
        retryable one gets its automatic retry while PAIMON_RETRY_HOURS allow.
        ``seconds``: how long the failed transfer attempt ran, when there was one."""
        next_retry_at = self._next_retry_at(job_id) if retryable else None
        self._change(
            job_id,
            fence,
            seconds=seconds,
            announce=self.announce(FAILED) if next_retry_at is None else None,
            state=JobState.FAILED,
            error=message,
            error_code=code,
            retryable=retryable,
            next_retry_at=next_retry_at,
        )

    def announce_end(self, job: Job) -> Announcement | None:
        """The event of a job that just ended: stored, or failed with no retry to come."""
        if job.state is JobState.DONE:
            return self.announce(STORED)
        if job.state is JobState.FAILED and job.next_retry_at is None:
            return self.announce(FAILED)
        return None

    def _next_retry_at(self, job_id: str) -> float | None:
        """When to try a job again that just failed, or None once retries are over."""
        job = self.store.get(job_id)
        if job is None:
            return None
        at = time.time() + retry_delay(job.attempts)
        return at if at <= job.created_at + self.retry_seconds else None

    def _requeue(self, job_id: str, fence: Fence) -> None:
        # Finished meanwhile, or taken over (LeaseLost): nothing to hand back.
        with contextlib.suppress(StateConflict):
            self._change(job_id, fence, expect=RESUMABLE, state=JobState.QUEUED)

    def _change(
        self,
        job_id: str,
        fence: Fence,
        *,
        seconds: float | None = None,
        announce: Announcement | None = None,
        **changes: object,
    ) -> None:
        """Update a job whose current state this thread does not know, under its lease,
        and record the transition (the extra read is for the log line; these paths are
        rare); ``announce``: the event written with the change (the outbox), unless the
        body's size and digest are not on the job yet (a pipelined transfer that ended
        first): the write that records them announces it then (``announce_end``)."""
        before = self.store.get(job_id)
        if before is not None and before.sha256 is None:
            announce = None
        job = self.store.update(job_id, fence=fence, announce=announce, **changes)
        record_transition(job, before.state if before else None, seconds=seconds)
        running = self._running.get(job_id)
        if running is not None and job.state in FINISHED:
            running.settled.set()

    # Its leases, its load, a failed job again, stopping ---------------------------------

    def heartbeat(self) -> None:
        """Renew this worker's leases; a transfer whose lease was lost is given up."""
        with self._lock:
            running = list(self._running.items())
        for job_id, entry in running:
            if not self.store.renew_lease(job_id, self.owner, self.lease_seconds):
                log.warning("lost the lease of job %s; giving it up", reference(job_id))
                entry.abort.set()

    def busy(self) -> int:
        """Transfers running here (a settled one's thread is only cleaning up)."""
        return sum(not entry.settled.is_set() for entry in self._running.values())

    def requeue_failed(self, job_id: str) -> Job:
        """Queue a failed job again and start it here if a slot is free (by hand through
        POST /status/<id>/retry, or automatically). StateConflict when it is not failed,
        or is being deleted (``removed_at``)."""
        job = self.store.update(
            job_id,
            expect={JobState.FAILED},
            unless_set="removed_at",
            state=JobState.QUEUED,
            error=None,
            error_code=None,
            retryable=None,
            next_retry_at=None,
        )
        record_transition(job, JobState.FAILED)
        self.submit(job_id)
        return job

    def shutdown(self, wait_seconds: float = 10.0) -> None:
        """Stop taking work; hand back every job this worker holds, for another or the
        next worker to resume at once (called from gunicorn's worker_exit hook)."""
        self._stopping.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            running = dict(self._running)
        for job_id, entry in running.items():
            entry.abort.set()
            if entry.future.cancelled():
                self._requeue(job_id, entry.fence)
                self.store.release_lease(job_id, self.owner)
        futures.wait([entry.future for entry in running.values()], timeout=wait_seconds)
