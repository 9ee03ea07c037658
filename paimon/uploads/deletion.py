"""Delete links, as transfer.sh hands them out (``X-Url-Delete``): each upload gets a
random token, told to the client once, in the upload's reply; the job keeps only its
SHA-256 digest, so neither the job store nor its backups can delete anything, and
every instance sharing the store accepts it. And the deletions themselves: by delete
link, or by the upload token an upload was made with."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from paimon.jobs.model import FINISHED, Job, JobState
from paimon.jobs.store import JobStore
from paimon.observability.logs import reference
from paimon.spool.writer import Spool
from paimon.storage.base import StorageBackend
from paimon.uploads.refusals import UploadRefused

log = logging.getLogger("paimon.jobs")

TOKEN_BYTES = 24  # 192 random bits


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_delete_token() -> tuple[str, str]:
    """A fresh token and the digest the job keeps."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, digest_of(token)


def token_matches(token: str, digest: str | None) -> bool:
    """Compared in constant time; a job without a digest (made before delete links)
    matches nothing."""
    return digest is not None and hmac.compare_digest(digest_of(token), digest)


class Deletion:
    """Deleting a finished upload: its stored object (or a failed upload's spool file)
    and its job."""

    def __init__(self, storage: StorageBackend, spool: Spool, jobs: JobStore):
        self.storage = storage
        self.spool = spool
        self.jobs = jobs  # as request handlers use it (RefusingStore)

    def find_by_delete_link(self, job_id: str, token: str) -> Job:
        """The job a delete link names; UploadRefused ``not_found`` for a wrong token,
        an unknown or an already deleted job, alike (nothing tells them apart)."""
        job = self.jobs.get(job_id)
        if job is None or not token_matches(token, job.delete_digest):
            raise UploadRefused(
                "not_found",
                "No upload has this delete link: it was deleted already, or the link is "
                "not the one its upload's reply gave.",
            )
        return job

    def delete_stored(self, job_id: str, token: str) -> Job:
        """What a delete link asks: the stored object (or the failed upload's spool
        file) and the job removed (``find_by_delete_link`` says which);
        ``upload_in_progress`` while the job is not finished."""
        return self._delete(self.find_by_delete_link(job_id, token))

    def delete_uploaded_by(self, job_id: str, uploader: str) -> Job:
        """The same, asked by the client that uploaded it (``uploader``: the reference
        its upload was made under, a token's). ``not_found`` for anyone else's upload."""
        job = self.jobs.get(job_id)
        if job is None or job.uploader != uploader:
            raise UploadRefused("not_found", "No upload with that id was made with this token.")
        return self._delete(job)

    def _delete(self, job: Job) -> Job:
        if job.state not in FINISHED:
            raise UploadRefused(
                "upload_in_progress",
                f"The upload is {job.state}: it can be deleted once it is done or failed.",
            )
        if job.state is JobState.DONE and job.storage_key:
            self.storage.delete(job.storage_key)  # StorageError: kept, try again
        if job.spool_path:
            self.spool.delete(job.spool_path)
        self.jobs.delete(job.id)
        log.info("upload deleted", extra={"job_id": reference(job.id), "backend": job.backend})
        return job
