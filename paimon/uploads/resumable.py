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
import hashlib
import io
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from paimon.jobs.model import Job, JobState
from paimon.jobs.owners import lease_owner
from paimon.jobs.store import StateConflict
from paimon.spool.bodies import READ_SIZE, BodyTooLong, copy_body
from paimon.spool.writer import SpoolFull, disk_full_refused
from paimon.uploads.intake import UploadRefused, UploadService


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


class LeaseLost(Exception):
    """This request stalled past its lease and another one may be writing now."""


class _LeasedAppend:
    """The spool file opened for appending by a request holding the job's lease.

    Before a write, once a third of the lease has passed, the lease is renewed and the
    progress recorded; a request that stalled until another took the lease over stops
    before writing a byte more. Hashes the bytes only for a body starting at offset 0,
    where its digest is the whole file's.
    """

    def __init__(self, path: Path, renew: Callable[[int], bool], interval: float, hashed: bool):
        # Unbuffered: after a failed write nothing is left in a buffer to land later,
        # behind a truncation.
        self._file = path.open("ab", buffering=0)
        self._renew = renew
        self._interval = interval
        self._renewed_at = time.monotonic()
        self.sha256 = hashlib.sha256() if hashed else None
        self.written = 0

    def write(self, data: bytes) -> int:
        if time.monotonic() - self._renewed_at >= self._interval:
            if not self._renew(self.written):
                raise LeaseLost
            self._renewed_at = time.monotonic()
        view = memoryview(data)
        with disk_full_refused():
            while view:  # a raw write may take only part of the piece
                view = view[self._file.write(view) :]
        if self.sha256 is not None:
            self.sha256.update(data)
        self.written += len(data)
        return len(data)

    def truncate(self, size: int) -> None:
        self._file.truncate(size)

    def close(self) -> None:
        """Make what arrived durable, since a resumed upload continues from it."""
        if not self._file.closed:
            os.fsync(self._file.fileno())
            self._file.close()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(READ_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


class TusService:
    """Create, inspect, append to and terminate tus uploads."""

    def __init__(self, uploads: UploadService, *, lease_seconds: float, expiry_seconds: float):
        self.uploads = uploads
        self.jobs = uploads.jobs
        self.lease_seconds = lease_seconds
        self.expiry_seconds = expiry_seconds

    def create(
        self, length: int, filename: str | None, body: BinaryIO, declared: int | None = None
    ) -> TusUpload:
        """A new upload of ``length`` bytes, with the first of them if the request had
        any (creation-with-upload). Nothing is kept if this request fails: the client
        never learnt the upload's URL."""
        receipt = self.uploads.begin(filename)
        receipt.writer.close()  # PATCHes append to the file through _LeasedAppend
        job = self.jobs.update(receipt.job.id, size=length)
        try:
            return self.append(job.id, 0, body, declared)
        except BaseException:
            self.uploads.drop(job)
            raise

    def find(self, job_id: str) -> TusUpload:
        """The upload as HEAD reports it; an expired one is deleted (410)."""
        job = self.uploads.find(job_id)
        if job is None or job.size is None:  # not a job, or a multipart one being received
            raise not_found()
        if job.state is not JobState.RECEIVING:
            return TusUpload(job, job.size, None)
        expires = job.updated_at + self.expiry_seconds
        if expires <= time.time():
            self.uploads.drop(job)
            raise UploadRefused("expired", "The upload expired; start it again.")
        path = Path(job.spool_path or "")
        if not path.is_file():
            raise UploadRefused(
                "spool_gone", "The upload's bytes are not on this server; start it again."
            )
        return TusUpload(job, path.stat().st_size, expires)

    def head(self, job_id: str) -> TusUpload:
        """HEAD. Also completes an upload whose last byte arrived just before a crash:
        its client sees the full offset and will not send another PATCH."""
        upload = self.find(job_id)
        if upload.job.state is JobState.RECEIVING and upload.offset == upload.job.size:
            with contextlib.suppress(Locked):  # the request holding it completes it
                return self.append(job_id, upload.offset, io.BytesIO())
        return upload

    def append(
        self, job_id: str, offset: int, body: BinaryIO, declared: int | None = None
    ) -> TusUpload:
        """PATCH: append ``body`` (``declared`` bytes long, if known) at ``offset``, which
        must be where the upload stands (409 otherwise). The last byte completes the job
        like any other upload."""
        upload = self.find(job_id)
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
            job, path = upload.job, Path(upload.job.spool_path or "")
            assert job.size is not None

            def renew(written: int) -> bool:
                self.jobs.update(job.id, bytes_received=offset + written)
                return self.jobs.renew_lease(job.id, owner, self.lease_seconds)

            interval = min(1.0, self.lease_seconds / 3)
            sink = _LeasedAppend(path, renew, interval, hashed=offset == 0)
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
                job = self.jobs.update(job.id, bytes_received=path.stat().st_size)
            received = offset + sink.written
            if received < job.size:
                return TusUpload(job, received, job.updated_at + self.expiry_seconds)
            digest = sink.sha256.hexdigest() if sink.sha256 else file_sha256(path)
            self.jobs.release_lease(job.id, owner)  # the transfer takes it next
            try:
                job = self.uploads.queue(job.id, job.size, digest)
            except StateConflict:  # another request completed it first
                job = self.uploads.find(job.id) or job
            return TusUpload(job, received, None)

    def terminate(self, job_id: str) -> None:
        """DELETE: the upload and its spool file go; one already complete is a job
        being stored, which termination does not touch (409)."""
        upload = self.find(job_id)
        if upload.job.state is not JobState.RECEIVING:
            raise UploadRefused("upload_complete", "The upload is complete; it is a job now.")
        with self._lease(job_id):
            self.uploads.drop(upload.job)

    @contextmanager
    def _lease(self, job_id: str) -> Iterator[str]:
        owner = lease_owner("tus-")
        if not self.jobs.acquire_lease(job_id, owner, self.lease_seconds):
            raise Locked
        try:
            yield owner
        finally:
            self.jobs.release_lease(job_id, owner)
