"""The owner's console as use cases, free of HTTP: every upload, newest first, filtered
and searched (paimon/jobs/listing.py); one upload; the owner's delete and retry (the
same as a delete link's and a retry's); totals; and where the bytes are (the disk's
free space and what uploads still arriving were promised, the backend's own usage)."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from typing import Protocol

from paimon.jobs.listing import JobListing, JobPage, JobQuery, Totals
from paimon.jobs.model import Job
from paimon.jobs.store import JobStore
from paimon.spool.writer import Spool
from paimon.storage.base import StorageUsage
from paimon.uploads.deletion import Deletion
from paimon.uploads.overview import Overview
from paimon.uploads.quota import Space
from paimon.uploads.refusals import RefusingStore, UploadRefused
from paimon.uploads.reservations import Reservations
from paimon.uploads.retries import Retries

#: How long the console waits for the backend's usage when its last answer is old (the
#: status page waits 50 ms; a person opening the console can wait for MEGA's answer).
USAGE_WAIT_SECONDS = 3.0


class ListingStore(JobStore, JobListing, Protocol):
    """A job store with the console's listing (both stores are)."""


@dataclass(frozen=True)
class DiskReport:
    """The spool's disk: what is free, of what, the floor kept free, and the uploads
    still arriving that reserved room (paimon/uploads/reservations.py)."""

    free_bytes: int
    total_bytes: int
    min_free_bytes: int
    reservations: int
    reserved_bytes: int


@dataclass(frozen=True)
class StorageReport:
    backend: str
    disk: DiskReport | None  # None: the spool is in a bucket (``spool_url``), no disk
    usage: StorageUsage | None  # the backend's own (MEGA's account, read with `uq`)
    space: Space | None = None  # its free space less what transfers were promised
    spool_url: str | None = None  # PAIMON_SPOOL_URL's s3://bucket/prefix


class Console:
    """Read and manage every upload, as the owner."""

    def __init__(
        self,
        jobs: ListingStore,
        *,
        spool: Spool,
        reservations: Reservations,
        deletion: Deletion,
        retries: Retries,
        overview: Overview,
        min_free_bytes: int,
    ):
        self._jobs: ListingStore = RefusingStore(jobs)  # type: ignore[assignment]
        self._spool = spool
        self._reservations = reservations
        self._deletion = deletion
        self._retries = retries
        self._overview = overview
        self._min_free_bytes = min_free_bytes

    def uploads(self, query: JobQuery) -> JobPage:
        return self._jobs.list_jobs(query)

    def upload(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise UploadRefused("not_found", "No upload with that id.")
        return job

    def delete(self, job_id: str, by: str) -> Job:
        """Remove the stored object (local file or MEGA node) and the job, as its
        delete link would; ``upload_in_progress`` while it runs. ``by``: where the owner
        asked (``console`` or ``api``), upload.deleted's ``deleted_by``."""
        return self._deletion.delete_job(job_id, by)

    def retry(self, job_id: str) -> Job:
        return self._retries.retry(job_id)

    def totals(self, now: float | None = None) -> Totals:
        return self._jobs.totals(time.time() if now is None else now)

    def storage(self) -> StorageReport:
        """The backend, its usage, and the spool: the disk's room, or (PAIMON_SPOOL_URL)
        the bucket, where free space and reservations mean nothing."""
        spool = self._spool
        usage = self._overview.storage_usage(wait=USAGE_WAIT_SECONDS)
        space = self._overview.storage_space() if usage is not None else None
        if spool.bucket_url:
            return StorageReport(
                self._overview.storage_name, None, usage, space, spool_url=spool.bucket_url
            )
        spool.directory.mkdir(parents=True, exist_ok=True)
        disk = shutil.disk_usage(spool.directory)
        held, reserved = self._reservations.outstanding()
        return StorageReport(
            backend=self._overview.storage_name,
            disk=DiskReport(disk.free, disk.total, self._min_free_bytes, held, reserved),
            usage=usage,
            space=space,
        )
