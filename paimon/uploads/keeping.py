"""How long an upload is kept, in transfer.sh's terms: ``Max-Days`` sets when its stored
object is removed, ``Max-Downloads`` how many downloads of a locally stored file are
served. A sweep on every worker's maintenance thread removes what is due, from local
storage or from MEGA; the job stays, saying when and why, until retention forgets it.

MEGA serves its links' downloads itself, so Paimon cannot count them: a download limit
is refused there rather than promised and not kept.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from paimon.jobs.model import Job, JobState
from paimon.jobs.outbox import EXPIRED as EXPIRED_EVENT
from paimon.jobs.outbox import SILENT, Announcer
from paimon.jobs.store import JobNotFound, JobStore, StateConflict
from paimon.observability.logs import reference
from paimon.storage.base import (
    ServedFile,
    ServesDownloads,
    StorageBackend,
    StorageError,
    served_file,
)
from paimon.uploads.quota import StorageQuota
from paimon.uploads.refusals import UploadRefused

log = logging.getLogger("paimon.jobs")

SECONDS_PER_DAY = 86_400
EXPIRED = "expired"
DOWNLOADS_USED = "downloads_used"
DELETED = "deleted"  # by its delete link or upload token: the job goes a moment later


@dataclass(frozen=True)
class Keep:
    """What a client asked for one upload; None: the server's default."""

    max_days: float | None = None
    max_downloads: int | None = None


NO_WISHES = Keep()


def used_up(job: Job) -> bool:
    return job.max_downloads is not None and job.downloads >= job.max_downloads


def gone(job: Job, now: float) -> bool:
    """The stored object was removed, or is due to be (the sweep has not come yet)."""
    due = job.expires_at is not None and job.expires_at <= now
    return job.removed_at is not None or due


def utc_text(timestamp: float) -> str:
    """A job's wall-clock time as a person reads it, in UTC (messages and pages)."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))


def why_gone(job: Job) -> str:
    if job.removed_because == DOWNLOADS_USED or (job.removed_at is None and used_up(job)):
        times = "1 time" if job.max_downloads == 1 else f"{job.max_downloads} times"
        return f"This upload could be downloaded {times}; it was, and is deleted."
    when = utc_text(job.expires_at or job.removed_at or 0.0)
    return f"This upload expired at {when} and is deleted."


class KeepPolicy:
    """The server's bounds (PAIMON_MAX_DAYS, PAIMON_DEFAULT_MAX_DAYS) applied to what a
    client asks. Without PAIMON_DEFAULT_MAX_DAYS an upload is kept until deleted, unless
    PAIMON_MAX_DAYS bounds it: then the bound is the default too."""

    def __init__(self, storage: StorageBackend, max_days: float | None, default_days: float | None):
        self.max_days = max_days
        self.default_days = default_days if default_days is not None else max_days
        self.counts_downloads = isinstance(storage, ServesDownloads)
        self.storage_name = storage.name

    def check(self, asked: Keep) -> None:
        """Refuse, before the body, what this server cannot keep its word on."""
        too_long = self.max_days is not None and (asked.max_days or 0) > self.max_days
        if too_long:
            raise UploadRefused(
                "max_days_too_large",
                f"Max-Days may be at most {self.max_days:g} on this server (PAIMON_MAX_DAYS).",
            )
        if asked.max_downloads is not None and not self.counts_downloads:
            raise UploadRefused(
                "max_downloads_unsupported",
                f"This server stores uploads in {self.storage_name}, which serves their "
                "downloads itself: Paimon never sees them, so it cannot limit them. Send "
                "no Max-Downloads (Max-Days works).",
            )

    def limits(self, asked: Keep, started: float) -> dict[str, object]:
        """The job fields for ``asked``, counting days from when the upload started."""
        days = asked.max_days if asked.max_days is not None else self.default_days
        expires_at = None if days is None else started + days * SECONDS_PER_DAY
        return {"expires_at": expires_at, "max_downloads": asked.max_downloads}


class Keeper:
    """Downloads counted against their limit, and the sweep that removes what is due."""

    def __init__(
        self,
        store: JobStore,
        asked: JobStore,
        storage: StorageBackend,
        announce: Announcer = SILENT,
        quota: StorageQuota | None = None,
    ):
        self.quota = quota  # asked again after the sweep removed something
        self.store = store  # the sweep's, on the maintenance thread
        self._asked = asked  # the same, as request handlers use it (RefusingStore)
        self.announce = announce  # upload.expired, written with the sweep's claim
        self.storage = storage

    def download(self, key: str) -> tuple[ServedFile, Job | None]:
        """The locally stored file behind a download link, and its job (None for a file
        whose job retention forgot). UploadRefused ``gone`` (410) once it expired or its
        downloads are used up, at once (a range or a HEAD too, not only until the sweep
        removes the file), ``not_found`` (404)."""
        job = self._asked.find_stored(key)
        if job is not None and (gone(job, time.time()) or used_up(job)):
            raise UploadRefused("gone", why_gone(job))
        served = served_file(self.storage, key)
        if served is None:
            raise UploadRefused("not_found", "No file with that link.")
        return served, job

    def count_download(self, job: Job) -> None:
        """Count one download of ``job``'s file against its limit, before it is sent;
        UploadRefused ``gone`` when the limit was reached (by another download, maybe
        a moment ago)."""
        if self._asked.count_download(job.id) is None:
            raise UploadRefused("gone", why_gone(self._asked.get(job.id) or job))

    def sweep(self, now: float) -> list[Job]:
        """Remove the stored objects due at ``now`` (expired, or downloads used up):
        each claimed by one worker (``unless_set``), then deleted from storage; a
        storage that fails gives the claim back, for the next sweep. The job loses its
        delete link, so retention forgets it in time. upload.expired is written with the
        claim: a storage that fails and a later sweep may announce it twice, never not at
        all. Returns the jobs removed."""
        removed = []
        for job in self.store.removable(now):
            reason = DOWNLOADS_USED if used_up(job) else EXPIRED
            try:
                claimed = self.store.update(
                    job.id,
                    expect={JobState.DONE},
                    unless_set="removed_at",
                    announce=self.announce(EXPIRED_EVENT),
                    removed_at=now,
                    removed_because=reason,
                    delete_digest=None,
                )
            except (StateConflict, JobNotFound):  # another worker's, or deleted meanwhile
                continue
            try:
                if job.storage_key:
                    self.storage.delete(job.storage_key)
            except StorageError as exc:
                log.warning(
                    "could not remove an expired upload; trying again later: %s",
                    exc,
                    extra={"job_id": reference(job.id), "backend": job.backend},
                )
                self.store.update(
                    job.id, removed_at=None, removed_because=None, delete_digest=job.delete_digest
                )
                continue
            log.info(
                "upload removed (%s)",
                reason,
                extra={"job_id": reference(job.id), "backend": job.backend},
            )
            removed.append(claimed)
        if removed and self.quota is not None:
            self.quota.changed()
        return removed
