"""An upload as a durable job: what it is, where it stands, what a client may see."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field, fields
from enum import StrEnum


class JobState(StrEnum):
    RECEIVING = "receiving"  # the body is still arriving
    QUEUED = "queued"  # durable in the spool, waiting for a transfer slot
    TRANSFERRING = "transferring"  # the storage backend is taking it
    DONE = "done"
    FAILED = "failed"


FINISHED = frozenset({JobState.DONE, JobState.FAILED})
#: States a dead worker can leave behind, to be taken over through an expired lease.
RESUMABLE = frozenset({JobState.QUEUED, JobState.TRANSFERRING})


def new_job_id() -> str:
    """160 random bits, URL-safe: the id is the only key to a job's status."""
    return secrets.token_urlsafe(20)


@dataclass
class Job:
    id: str
    filename: str
    backend: str
    state: JobState = JobState.RECEIVING
    size: int | None = None  # total bytes, once known
    sha256: str | None = None  # hex digest of the content, once received
    bytes_received: int = 0
    bytes_stored: int = 0  # acknowledged by the storage backend
    attempts: int = 0  # transfer attempts started
    resumed_from: int | None = None  # this attempt went on from the earlier one's byte
    link: str | None = None
    storage_key: str | None = None
    error: str | None = None  # for a person, when failed
    error_code: str | None = None  # for programs, when failed: storage_full, storage_failed...
    retryable: bool | None = None  # when failed: can a retry help?
    next_retry_at: float | None = None  # when failed: the automatic retry's wall-clock time
    expires_at: float | None = None  # wall-clock: when the stored object is removed (Max-Days)
    max_downloads: int | None = None  # downloads allowed (Max-Downloads; local storage only)
    downloads: int = 0  # downloads of the stored file counted (local storage)
    removed_at: float | None = None  # when the stored object was removed: expired, used up
    removed_because: str | None = None  # "expired" or "downloads_used"
    spool_path: str | None = None  # internal: never shown
    transfer_state: str | None = None  # internal: the backend's checkpoint, sealed
    delete_digest: str | None = None  # internal: SHA-256 of the delete link's token
    delete_handoff: str | None = None  # internal: the token sealed for a browser's one look
    handoff_taken_at: float | None = None  # internal: when that look was taken (once)
    uploader: str | None = None  # internal: the client reference it was uploaded under
    uploader_label: str | None = None  # owner-only: the label of the token it came with
    upload_link: str | None = None  # owner-only: the id of the upload link it came through
    folder: str | None = None  # owner-only: the MEGA folder its upload link named
    stored_at: float | None = None  # when the backend confirmed the object (state done)
    lease_owner: str | None = None  # internal: the worker running it
    lease_expires: float = 0.0  # internal: wall-clock seconds
    lease_token: int = 0  # internal: the fencing token, one more at every acquisition
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    PRIVATE = (
        "spool_path",
        "transfer_state",
        "delete_digest",
        "delete_handoff",
        "handoff_taken_at",
        "uploader",
        "uploader_label",
        "upload_link",
        "folder",
        "lease_owner",
        "lease_expires",
        "lease_token",
    )

    #: Private fields the owner's console shows: who sent the upload, and through what.
    OWNER_ONLY = ("uploader_label", "upload_link", "folder")

    def public_view(self) -> dict[str, object]:
        """The job as /status/<id> shows it: no paths, no worker identities. (Every
        field is a plain value: no deep copy, as ``asdict`` would make, is needed; the
        console shows a page of 50 at once.)"""
        view = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self.PRIVATE}
        view["state"] = str(self.state)
        return view
