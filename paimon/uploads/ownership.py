"""Who may change an upload: the one owner rule of every request that changes one (tus
PATCH and DELETE, a retry, DELETE /status/<id>)."""

from __future__ import annotations

from paimon.jobs.model import Job
from paimon.jobs.store import JobStore
from paimon.uploads.refusals import UploadRefused


def made_by(job: Job, client: str | None) -> bool:
    """``client``, the reference of the token the request came with, is the one the
    upload was made under. ``None``, on a server without tokens, where an upload's id
    is its key: anyone who holds it."""
    return client is None or job.uploader == client


def owned(jobs: JobStore, job_id: str, client: str | None) -> Job:
    """The job ``client`` may change (``made_by``); UploadRefused ``not_found`` for
    someone else's upload as for one that does not exist: nothing tells them apart."""
    job = jobs.get(job_id)
    if job is None or not made_by(job, client):
        mine = " made with this token" if client is not None else ""
        raise UploadRefused("not_found", f"No upload with that id{mine}.")
    return job
