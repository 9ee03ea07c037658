"""Resumable uploads (tus 1.0.0): a tus upload is a job in state `receiving` whose spool
file grows with each PATCH.

Its whole state is in the job store and the spool, so any worker, or a restarted server,
carries an upload on: the job's `size` is the declared Upload-Length, and the spool
file's size on disk is the offset, since it is what is really there even after a crash
mid-PATCH; `bytes_received` mirrors it for /status and is reconciled with it on every
PATCH. A PATCH writes only while it holds the job's lease in the job store, so two
requests (in any workers) never append to one file at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from paimon.jobs.model import Job, JobState
from paimon.jobs.owners import LeaseOwners
from paimon.jobs.store import StateConflict
from paimon.spool.bodies import BodyTooLong, copy_body
from paimon.spool.writer import SpoolFull
from paimon.uploads.intake import UploadService
from paimon.uploads.keeping import NO_WISHES, Keep
from paimon.uploads.origins import ANONYMOUS, Origin
from paimon.uploads.ownership import made_by
from paimon.uploads.refusals import UploadRefused


def not_found() -> UploadRefused:
    return UploadRefused("not_found", "No resumable upload with that id.")


def too_long() -> UploadRefused:
    return UploadRefused("exceeds_upload_length", "The body goes past the upload's length.")


class Locked(UploadRefused):
    """Another request holds the upload's lease (it is appending, or completing it)."""

    def __init__(self) -> None:
        super().__init__("upload_locked", "Another request is writing to this upload; retry soon.")


@dataclass(frozen=True)
class TusUpload:
    """Where an upload stands, as tus headers tell it."""

    job: Job
    offset: int
    expires: float | None  # None once complete: it no longer expires as an upload
    delete_token: str = ""  # only on creation: its reply is the one that tells it


class LeaseLost(Exception):
    """This request stalled past its lease and another one may be writing now."""


class LeaseKeeper:
    """Called before each write of a PATCH body (``AppendWriter``'s hook): once a third
    of the lease has passed, the lease is renewed and the progress recorded; a request
    that stalled until another took the lease over stops before writing a byte more."""

    def __init__(self, renew: Callable[[int], bool], interval: float):
        self._renew = renew
        self._interval = interval
        self._renewed_at = time.monotonic()

    def __call__(self, written: int) -> None:
        if time.monotonic() - self._renewed_at >= self._interval:
            if not self._renew(written):
                raise LeaseLost
            self._renewed_at = time.monotonic()


class TusService:
    """Create, inspect, append to and terminate tus uploads."""

    def __init__(
        self,
        uploads: UploadService,
        *,
        owners: LeaseOwners,
        lease_seconds: float,
        expiry_seconds: float,
    ):
        self.uploads = uploads
        self.jobs = uploads.jobs
        self.owners = owners
        self.lease_seconds = lease_seconds
        self.expiry_seconds = expiry_seconds

    def create(
        self,
        length: int,
        filename: str | None,
        body: BinaryIO,
        declared: int | None = None,
        owner: str = "",
        keep: Keep = NO_WISHES,
        origin: Origin = ANONYMOUS,
    ) -> TusUpload:
        """A new upload of ``length`` bytes, reserved on disk in ``owner``'s name, with
        the first of them if the request had any (creation-with-upload). Nothing is kept
        if this request fails: the client never learnt the upload's URL."""
        self.remove_idle()  # before reserving: what they held is free again
        incoming = self.uploads.begin(
            filename, reserve=length, owner=owner, keep=keep, origin=origin
        )
        incoming.writer.close()  # PATCHes append to the file through the spool's appender
        job = self.jobs.update(incoming.job.id, size=length)
        self.uploads.spool.begin_append(job.spool_path or "")
        try:
            upload = self.append(job.id, 0, body, declared)
        except BaseException:
            self.uploads.delete_unqueued(job)
            raise
        return dataclasses.replace(upload, delete_token=incoming.delete_token)

    def remove_idle(self) -> None:
        """Remove the unfinished tus uploads that received nothing for the expiry time,
        with their bytes (and so their reservations): a client that creates uploads and
        never sends them does not keep disk or PAIMON_MAX_PENDING_UPLOADS slots."""
        for job in self.jobs.stale_receiving(time.time() - self.expiry_seconds):
            if job.size is None:  # a multipart or PUT body: the transfers' purge has it
                continue
            with contextlib.suppress(Locked), self._lease(job.id):  # Locked: being written
                self.uploads.delete_unqueued(job)

    def find(self, job_id: str, client: str | None = None) -> TusUpload:
        """The upload as HEAD reports it; an expired one is deleted (410). With a
        ``client`` (a change), someone else's upload is not found (``made_by``)."""
        job = self.uploads.find(job_id)
        if job is None or job.size is None:  # not a job, or a multipart one being received
            raise not_found()
        if not made_by(job, client):
            raise not_found()
        if job.state is not JobState.RECEIVING:
            return TusUpload(job, job.size, None)
        expires = job.updated_at + self.expiry_seconds
        if expires <= time.time():
            self.uploads.delete_unqueued(job)
            raise UploadRefused("expired", "The upload expired; start it again.")
        offset = self.uploads.spool.offset(job.spool_path or "")
        if offset is None:
            raise UploadRefused(
                "spool_gone", "The upload's bytes are not on this server; start it again."
            )
        return TusUpload(job, offset, expires)

    def head(self, job_id: str) -> TusUpload:
        """HEAD. Also completes an upload whose last byte arrived just before a crash:
        its client sees the full offset and will not send another PATCH."""
        upload = self.find(job_id)
        if upload.job.state is JobState.RECEIVING and upload.offset == upload.job.size:
            with contextlib.suppress(Locked):  # the request holding it completes it
                return self.append(job_id, upload.offset, io.BytesIO())
        return upload

    def append(
        self,
        job_id: str,
        offset: int,
        body: BinaryIO,
        declared: int | None = None,
        client: str | None = None,
    ) -> TusUpload:
        """PATCH: append ``body`` (``declared`` bytes long, if known) at ``offset``, which
        must be where the upload stands (409 otherwise), for a ``client`` that may change
        it. The last byte completes the job like any other upload."""
        upload = self.find(job_id, client)
        assert upload.job.size is not None
        if offset != upload.offset:
            raise UploadRefused(
                "offset_mismatch", f"The upload is at offset {upload.offset}, not {offset}."
            )
        if declared is not None and offset + declared > upload.job.size:
            raise too_long()
        if upload.job.state is not JobState.RECEIVING:
            return upload
        with self._lease(job_id) as owner:
            upload = self.find(job_id)  # again, now that no one else can write
            if upload.job.state is not JobState.RECEIVING or upload.offset != offset:
                raise UploadRefused("offset_mismatch", "The upload moved on meanwhile.")
            job, spool, path = upload.job, self.uploads.spool, upload.job.spool_path or ""
            assert job.size is not None

            def renew(written: int) -> bool:
                self.jobs.update(job.id, bytes_received=offset + written)
                return self.jobs.renew_lease(job.id, owner, self.lease_seconds)

            interval = min(1.0, self.lease_seconds / 3)
            sink = spool.appender(path, LeaseKeeper(renew, interval), offset == 0, job.size)
            try:
                copy_body(body, sink, limit=job.size - offset, expected=declared)
            except BodyTooLong:
                sink.truncate(offset)
                raise too_long() from None
            except SpoolFull:  # this PATCH is dropped whole; the upload can resume
                sink.truncate(offset)
                raise
            finally:  # a body cut short keeps what arrived, for the client to resume
                sink.close()
                job = self.jobs.update(job.id, bytes_received=spool.offset(path) or 0)
            received = offset + sink.written
            if received < job.size:
                return TusUpload(job, received, job.updated_at + self.expiry_seconds)
            digest = sink.sha256.hexdigest() if sink.sha256 else spool.sha256(path)
            self.jobs.release_lease(job.id, owner)  # the transfer takes it next
            try:
                job = self.uploads.queue(job.id, job.size, digest)
            except StateConflict:  # another request completed it first
                job = self.uploads.find(job.id) or job
            return TusUpload(job, received, None)

    def terminate(self, job_id: str, client: str | None = None) -> None:
        """DELETE by a ``client`` that may change the upload: it and its spool file go;
        one already complete is a job being stored, which termination does not touch
        (409)."""
        upload = self.find(job_id, client)
        if upload.job.state is not JobState.RECEIVING:
            raise UploadRefused("upload_complete", "The upload is complete; it is a job now.")
        with self._lease(job_id):
            self.uploads.delete_unqueued(upload.job)

    @contextmanager
    def _lease(self, job_id: str) -> Iterator[str]:
        owner = self.owners.name("tus-")
        if not self.jobs.acquire_lease(job_id, owner, self.lease_seconds):
            raise Locked
        try:
            yield owner
        finally:
            self.jobs.release_lease(job_id, owner)
