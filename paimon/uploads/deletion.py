"""Delete links, as transfer.sh hands them out (``X-Url-Delete``): each upload gets a
random token, told to the client once, in the upload's reply; the job keeps only its
SHA-256 digest, so neither the job store nor its backups can delete anything, and
every instance sharing the store accepts it. And the deletions themselves: by delete
link, or by the upload token an upload was made with.

A browser's plain form is answered with a redirect (303, so a reload does not send the
files again), and the page it lands on must show the delete link without the token
ever being in an address (history, proxy logs, a copied address bar). So the token is
handed off: sealed (Fernet) under a key derived from a fresh random reference, kept in
the job for that one look, while the redirect names only the reference. The page opens
the seal, shows the link once, and clears it; the reference opens nothing after that,
or after HANDOFF_SECONDS, and the job store alone holds nothing it can open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time

from cryptography.fernet import Fernet, InvalidToken

from paimon.jobs.model import FINISHED, Job, JobState
from paimon.jobs.outbox import DELETED as DELETED_EVENT
from paimon.jobs.outbox import SILENT, Announcer
from paimon.jobs.store import JobNotFound, JobStore, StateConflict
from paimon.observability.logs import reference
from paimon.spool.writer import Spool
from paimon.storage.base import StorageBackend
from paimon.uploads.keeping import DELETED, why_gone
from paimon.uploads.ownership import owned
from paimon.uploads.quota import StorageQuota
from paimon.uploads.refusals import UploadRefused

log = logging.getLogger("paimon.jobs")

TOKEN_BYTES = 24  # 192 random bits
#: How long a browser has to follow the redirect to the page that shows a delete link.
HANDOFF_SECONDS = 600


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


def new_handoff_reference() -> str:
    """The reference a redirect names instead of the token (192 random bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def _sealer(reference: str) -> Fernet:
    key = hashlib.sha256(b"paimon delete-link handoff\0" + reference.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal_for_handoff(token: str, reference: str) -> str:
    return _sealer(reference).encrypt(token.encode()).decode("ascii")


def open_handoff(sealed: str | None, reference: str, digest: str | None) -> str | None:
    """The token ``sealed`` under ``reference``, if it opens within HANDOFF_SECONDS and
    is the job's (``digest``); None otherwise."""
    if not sealed:
        return None
    try:
        token = _sealer(reference).decrypt(sealed.encode("ascii"), ttl=HANDOFF_SECONDS).decode()
    except (InvalidToken, UnicodeError):
        return None
    return token if token_matches(token, digest) else None


def in_progress(job: Job) -> UploadRefused:
    return UploadRefused(
        "upload_in_progress",
        f"The upload is {job.state}: it can be deleted once it is done or failed.",
    )


class Deletion:
    """Deleting a finished upload: its stored object (or a failed upload's spool file)
    and its job; and the delete links a browser's page is handed once."""

    def __init__(
        self,
        storage: StorageBackend,
        spool: Spool,
        jobs: JobStore,
        announce: Announcer = SILENT,
        quota: StorageQuota | None = None,
    ):
        self.storage = storage
        self.quota = quota  # asked again after a delete: the account has more room
        self.spool = spool
        self.jobs = jobs  # as request handlers use it (RefusingStore)
        self.announce = announce  # upload.deleted, written with the job's removal

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

    def hand_off(self, uploads: list[tuple[Job, str]]) -> str:
        """Keep each job's delete token sealed for one look by the page a browser is
        redirected to; the reference that opens them, for the redirect to name."""
        handoff = new_handoff_reference()
        for job, token in uploads:
            self.jobs.update(job.id, delete_handoff=seal_for_handoff(token, handoff))
        return handoff

    def take_handoff(self, job: Job, handoff: str) -> str | None:
        """The delete token handed off under ``handoff``, once: of several requests
        (a reload, a second tab) exactly one gets it, and it is cleared from the job.
        None when it does not open, was taken already, or is too old."""
        token = open_handoff(job.delete_handoff, handoff, job.delete_digest)
        if token is None:
            return None
        try:
            self.jobs.update(
                job.id,
                unless_set="handoff_taken_at",
                handoff_taken_at=time.time(),
                delete_handoff=None,
            )
        except (StateConflict, JobNotFound):  # taken by another request, or deleted
            return None
        return token

    def delete_stored(self, job_id: str, token: str) -> Job:
        """What a delete link asks: the stored object (or the failed upload's spool
        file) and the job removed (``find_by_delete_link`` says which);
        ``upload_in_progress`` while the job is not finished."""
        return self._delete(self.find_by_delete_link(job_id, token), "delete_link")

    def delete_uploaded_by(self, job_id: str, uploader: str) -> Job:
        """The same, asked by the client that uploaded it (``uploader``: the reference
        its upload was made under, a token's). ``not_found`` for anyone else's upload."""
        return self._delete(owned(self.jobs, job_id, uploader), "token")

    def delete_job(self, job_id: str, by: str) -> Job:
        """The same, asked by the owner: any upload (``by``: ``console`` or ``api``).
        ``not_found`` when there is no such upload."""
        job = self.jobs.get(job_id)
        if job is None:
            raise UploadRefused("not_found", "No upload with that id.")
        return self._delete(job, by)

    def _delete(self, job: Job, by: str) -> Job:
        """Claim the job for deletion first (``removed_at``, set only while unset, by
        one writer: the same claim as the expiry sweep's), so that of several requests
        deleting it at once exactly one does, and the others hear it is gone. ``by``:
        how it was asked (upload.deleted's ``deleted_by``), written with the job's end."""
        if job.state not in FINISHED:
            raise in_progress(job)
        try:
            self.jobs.update(
                job.id,
                expect=FINISHED,
                unless_set="removed_at",
                removed_at=time.time(),
                removed_because=DELETED,
            )
        except (StateConflict, JobNotFound):
            raise self._not_deletable(job.id) from None
        try:
            if job.state is JobState.DONE and job.storage_key:
                self.storage.delete(job.storage_key)  # StorageError: kept, try again
                if self.quota is not None:
                    self.quota.changed()
        except BaseException:
            self.jobs.update(job.id, removed_at=None, removed_because=None)  # the claim back
            raise
        if job.spool_path:
            self.spool.delete(job.spool_path)
        self.jobs.delete(job.id, announce=self.announce(DELETED_EVENT, by))
        log.info("upload deleted", extra={"job_id": reference(job.id), "backend": job.backend})
        return job

    def _not_deletable(self, job_id: str) -> UploadRefused:
        """Why a deletion lost its claim: another request deleted it (or is deleting
        it), a retry took it up, or the expiry sweep removed it."""
        job = self.jobs.get(job_id)
        if job is None or job.removed_because == DELETED:
            return UploadRefused("not_found", "The upload was deleted already.")
        if job.state not in FINISHED:
            return in_progress(job)
        return UploadRefused("gone", why_gone(job))
