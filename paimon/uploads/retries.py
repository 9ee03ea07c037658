"""Trying a failed upload again by hand (``POST /status/<id>/retry``). The automatic
retries of temporary failures are the maintenance loop's (maintenance.py)."""

from __future__ import annotations

from paimon.jobs.model import Job, JobState
from paimon.jobs.store import JobStore, StateConflict
from paimon.uploads.ownership import owned
from paimon.uploads.refusals import UploadRefused
from paimon.uploads.transfers import TransferRunner


class Retries:
    def __init__(self, jobs: JobStore, transfers: TransferRunner):
        self.jobs = jobs  # as request handlers use it (RefusingStore)
        self.transfers = transfers

    def retry(self, job_id: str, client: str | None = None) -> Job:
        """Queue a failed job again, if its spool file is still here and ``client`` may
        change it (``made_by``)."""
        job = owned(self.jobs, job_id, client)
        if job.state is not JobState.FAILED:
            raise UploadRefused("not_failed", f"The upload is {job.state}, not failed.")
        if not job.spool_path or not self.transfers.spool.source(job.spool_path).exists():
            raise UploadRefused(
                "spool_gone", "The received file is no longer kept; upload it again."
            )
        try:
            return self.transfers.requeue_failed(job_id)
        except StateConflict:
            raise UploadRefused("not_failed", "The upload is already being retried.") from None
