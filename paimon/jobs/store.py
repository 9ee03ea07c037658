"""The job store interface: SQLite on one machine, Redis across instances.

Every method is safe to call from any thread of any worker process. Times are
wall-clock seconds (time.time()), since several processes and hosts compare them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from paimon.jobs.model import Job, JobState
from paimon.jobs.outbox import Announcement, DeliveryStore


class JobNotFound(KeyError):
    """No job with that id."""


class StateConflict(Exception):
    """The job was not in the state the caller expected (someone else moved it)."""


class StoreUnavailable(Exception):
    """The job store cannot be reached or written now (Redis down, the SQLite file
    unusable or its disk full); the message says which, without secrets."""


class StoreDiskFull(StoreUnavailable):
    """The job store's disk is full (SQLite's SQLITE_FULL): the server's disk, which
    uploads fill, not a store that is down."""


class LeaseLost(StateConflict):
    """A fenced write was refused: the writer no longer holds the job's lease with its
    token (another worker took it over), or the job is done already."""


@dataclass(frozen=True)
class Fence:
    """Who may write: the lease's owner and the fencing token its acquisition gave."""

    owner: str
    token: int


class JobStore(DeliveryStore, Protocol):
    #: Which store this is, for people: "sqlite" or "redis" (/readyz, `paimon doctor`).
    name: str

    def create(self, job: Job) -> None:
        """Store a new job (its id must be new)."""
        ...

    def get(self, job_id: str) -> Job | None: ...

    def update(
        self,
        job_id: str,
        *,
        expect: Collection[JobState] | None = None,
        fence: Fence | None = None,
        unless_set: str | None = None,
        announce: Announcement | None = None,
        **changes: object,
    ) -> Job:
        """Change fields of a job atomically and set ``updated_at``; return the new job.
        With ``announce``, the announcement's deliveries are written in the same atomic
        step, holding the job as changed (the outbox, paimon/jobs/outbox.py).

        With ``expect``, the change happens only if the job's state is one of those,
        else StateConflict; with ``unless_set`` (a field's name), only if that field is
        None, else StateConflict. With ``fence``, only if the job is not done and its lease is
        held by ``fence.owner`` with ``fence.token``, else LeaseLost: a worker that
        stalled past its lease can never overwrite what the next one wrote. JobNotFound
        when there is no such job.
        """
        ...

    def counts(self) -> dict[JobState, int]:
        """How many jobs are in each state (every state present, zeros included)."""
        ...

    def acquire_lease(self, job_id: str, owner: str, ttl: float) -> int | None:
        """Take the job's lease for ``ttl`` seconds if it is free, expired or already
        ``owner``'s, and the job is not finished. Atomic: of many callers, one wins.

        Returns the lease's fencing token (the job's counter, one more at every
        acquisition, never 0) for fenced updates; None when refused."""
        ...

    def renew_lease(self, job_id: str, owner: str, ttl: float) -> bool:
        """Extend a lease ``owner`` holds; False when it lost it (expired and taken)."""
        ...

    def release_lease(self, job_id: str, owner: str) -> None:
        """Give up a lease ``owner`` holds, so another worker can take the job at once."""
        ...

    def leases(self) -> dict[str, str]:
        """Unfinished jobs whose lease someone holds (expired or not): id -> owner."""
        ...

    def resumable(self, now: float) -> list[str]:
        """Ids of queued or transferring jobs whose lease is free or expired at ``now``."""
        ...

    def awaiting_retry(self) -> dict[str, float]:
        """Failed jobs with an automatic retry scheduled: id -> ``next_retry_at``."""
        ...

    def purgeable_before(self, cutoff: float) -> list[Job]:
        """Jobs retention forgets, last updated before ``cutoff``: failed ones, and done
        ones without a delete link (made before delete links existed). A stored upload
        with a delete link keeps its job for as long as it is stored: the link, and its
        status page, must go on working."""
        ...

    def find_stored(self, storage_key: str) -> Job | None:
        """The job whose stored object has this key (what a download link names)."""
        ...

    def count_download(self, job_id: str) -> Job | None:
        """Count one download of a stored upload not removed, unless it has had its
        ``max_downloads``: the job as counted, or None when refused. Atomic: of many
        downloads at once, exactly as many as allowed are counted."""
        ...

    def removable(self, now: float) -> list[Job]:
        """Stored uploads not removed yet whose ``expires_at`` is ``now`` or earlier,
        or whose downloads are used up: what the expiry sweep removes."""
        ...

    def stale_receiving(self, cutoff: float) -> list[Job]:
        """Jobs still `receiving` but not updated since ``cutoff``: bodies whose worker
        died mid-receive, or resumable uploads abandoned by their client."""
        ...

    def active_spool_paths(self) -> set[str]:
        """Spool paths of jobs that may still need them (not done)."""
        ...

    def delete(self, job_id: str, *, announce: Announcement | None = None) -> Job | None:
        """Forget a job (no error if it is gone already); the job as it was, or None.
        With ``announce``, its deliveries are written in the same atomic step, holding
        the job as it was, if there was one."""
        ...

    def check(self) -> None:
        """Raise an exception with a readable message when the store is unreachable."""
        ...

    def close(self) -> None:
        """Close this process's connections (a later call opens new ones)."""
        ...
