"""Accepting uploads as durable jobs: receive into the spool, queue, transfer.

An upload is acknowledged only once its bytes are durable: fsynced in the spool with
its job queued in the job store (so from then on it survives a worker crash or a
restart), or stored by the backend when the client waited for the link.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from paimon.jobs.model import Job, JobState, new_job_id
from paimon.jobs.store import (
    JobNotFound,
    JobStore,
    StateConflict,
)
from paimon.spool.bodies import copy_body
from paimon.spool.writer import Spool, SpoolWriter
from paimon.storage.base import StorageBackend, StoresInFolders, StoresWhileReceiving
from paimon.uploads.deletion import new_delete_token
from paimon.uploads.job_events import (
    ABANDONED,
    record_received,
    record_refusal,
    record_transition,
)
from paimon.uploads.keeping import NO_WISHES, Keep, KeepPolicy
from paimon.uploads.names import clean_display_name
from paimon.uploads.origins import ANONYMOUS, Origin
from paimon.uploads.progress import ProgressWriter
from paimon.uploads.quota import StorageQuota
from paimon.uploads.refusals import UnknownService, UploadRefused
from paimon.uploads.reservations import ReservationRefused, Reservations
from paimon.uploads.transfers import Growing, TransferRunner

log = logging.getLogger("paimon.jobs")


#: How often a body of unknown length looks at the floor again while it arrives.
FLOOR_CHECK_BYTES = 4 * 1024 * 1024


class FloorChecked:
    """A spool writer for a body of unknown length (chunked), which reserved nothing:
    every FLOOR_CHECK_BYTES the free-space floor is checked again, beside what other
    uploads were promised, so such a body stops at the floor rather than a full disk."""

    def __init__(self, writer: SpoolWriter, check: Callable[[], None]):
        self._writer = writer
        self._check = check
        self._unchecked = 0

    def write(self, data: memoryview, /) -> int:
        self._unchecked += len(data)
        if self._unchecked >= FLOOR_CHECK_BYTES:
            self._check()
            self._unchecked = 0
        return self._writer.write(data)


class IncomingUpload:
    """One upload being received: its job, the spool file its bytes go to, whether its
    transfer already runs alongside the body (pipelined), and its delete link's token,
    which only the reply to this request tells."""

    def __init__(
        self, job: Job, writer: SpoolWriter, pipelined: bool = False, delete_token: str = ""
    ):
        self.job = job
        self.writer = writer
        self.pipelined = pipelined
        self.delete_token = delete_token
        self.completed = False  # by UploadService.complete: the upload is no longer the request's


class UploadService:
    """The upload use cases, free of HTTP and of any particular backend."""

    def __init__(
        self,
        *,
        storage: StorageBackend,
        spool: Spool,
        jobs: JobStore,
        transfers: TransferRunner,
        reservations: Reservations,
        progress: ProgressWriter,
        keeping: KeepPolicy,
        quota: StorageQuota | None = None,
    ):
        self.storage = storage
        self.quota = quota  # the storage account's free space, when it tells
        self.spool = spool
        self.jobs = jobs  # as request handlers use it (RefusingStore)
        self.transfers = transfers
        self.reservations = reservations
        self.progress = progress  # bytes received, written by its own thread
        self.keeping = keeping

    @property
    def takes_folders(self) -> bool:
        """Whether uploads may name a folder: the backend StoresInFolders."""
        return isinstance(self.storage, StoresInFolders)

    @property
    def supported_services(self) -> list[str]:
        return [self.storage.name]

    def check_can_accept(
        self, requested_service: str | None, expected_bytes: int | None, keep: Keep = NO_WISHES
    ) -> None:
        """Refuse before reading a byte: unknown service, a ``keep`` this server cannot
        honour, or not enough spool space beside what uploads still arriving were
        promised."""
        if requested_service and requested_service.lower() not in self.supported_services:
            record_refusal(self.storage.name)
            raise UnknownService(requested_service, self.supported_services)
        self.keeping.check(keep)
        with self._refusal():
            self.reservations.check(expected_bytes)
        if self.quota is not None:
            try:
                self.quota.check(expected_bytes)
            except UploadRefused:
                record_refusal(self.storage.name)
                raise

    def _floor(self) -> None:
        with self._refusal():
            self.reservations.check(0)

    @contextmanager
    def _refusal(self) -> Iterator[None]:
        """A refused reservation, counted and told as any refused upload."""
        try:
            yield
        except ReservationRefused as refused:
            record_refusal(self.storage.name)
            raise UploadRefused(refused.error, refused.message) from None

    def begin(
        self,
        raw_filename: str | None,
        expected_size: int | None = None,
        *,
        reserve: int | None = None,
        owner: str = "",
        keep: Keep = NO_WISHES,
        origin: Origin = ANONYMOUS,
    ) -> IncomingUpload:
        """Open a spool file and a job in state `receiving` for an arriving body, after
        reserving ``reserve`` bytes of disk for it (its declared size, when known) in
        ``owner``'s name (a client reference, for PAIMON_MAX_PENDING_UPLOADS); the job
        is kept as ``keep`` asks (checked by ``check_can_accept``) and records its
        ``origin`` for the owner's console.

        With the body's ``expected_size`` (known, or guessed) and a backend that can
        store a growing file, the transfer starts at once and runs alongside the body
        (pipelining): the link comes about when the last byte has arrived rather than a
        whole transfer later. A wrong guess costs a restart of the transfer, never a
        wrong object: the backend waits for the body's end before its last bytes.
        """
        delete_token, delete_digest = new_delete_token()
        started = time.time()
        job = Job(
            id=new_job_id(),
            filename=clean_display_name(raw_filename),
            backend=self.storage.name,
            delete_digest=delete_digest,
            uploader=owner or None,
            uploader_label=origin.label,
            upload_link=origin.link,
            folder=origin.folder,
            created_at=started,
            updated_at=started,
            **self.keeping.limits(keep, started),  # type: ignore[arg-type]
        )

        def received(count: int) -> None:
            self.progress.report(job.id, count)

        writer = self.spool.new_writer(received, expected_size)
        if reserve is not None:
            try:
                with self._refusal():
                    self.reservations.reserve(writer.path, reserve, owner)
            except UploadRefused:
                writer.close()
                self.spool.delete(writer.path)
                raise
        job.spool_path = str(writer.path)
        try:
            self.jobs.create(job)
        except UploadRefused:  # the store is down: no job, so no spool file either
            writer.close()
            self.spool.delete(writer.path)
            raise
        record_transition(job, None)
        if reserve is not None and self.quota is not None:
            self.quota.promise(job.id, reserve)
        pipelined = False
        if (
            expected_size
            and isinstance(self.storage, StoresWhileReceiving)
            and self.spool.readable_while_growing
        ):
            pipelined = self.transfers.submit(job.id, Growing(expected_size, writer.wait_for_bytes))
        return IncomingUpload(job, writer, pipelined, delete_token)

    def receive(
        self,
        body: BinaryIO,
        raw_filename: str | None,
        expected: int | None,
        owner: str = "",
        keep: Keep = NO_WISHES,
        origin: Origin = ANONYMOUS,
    ) -> IncomingUpload:
        """A raw body (PUT) streamed into the spool, for ``complete``; a body that ends
        before its ``expected`` length (the client went away) or is refused midway is
        abandoned. An ``expected`` length is reserved first."""
        incoming = self.begin(
            raw_filename, expected, reserve=expected, owner=owner, keep=keep, origin=origin
        )
        sink = (
            incoming.writer if expected is not None else FloorChecked(incoming.writer, self._floor)
        )
        try:
            copy_body(body, sink, expected=expected)
        except BaseException:
            self.delete_incoming(incoming)  # also stops a pipelined transfer (ReceiveAborted)
            raise
        return incoming

    def complete_all(
        self, incoming: list[IncomingUpload], *, wait: bool = False, keep: Keep = NO_WISHES
    ) -> list[Job]:
        """``complete`` for the files of one request, in order, each kept as ``keep``
        asks (a form's wishes: its fields come with its body, after ``begin`` gave each
        job the server's default). Every file is queued before any is waited for, so
        their transfers run side by side."""
        if keep != NO_WISHES:
            self.keeping.check(keep)
            for upload in incoming:
                limits = self.keeping.limits(keep, upload.job.created_at)
                upload.job = self.jobs.update(upload.job.id, **limits)
        if len(incoming) == 1:
            return [self.complete(incoming[0], wait=wait)]
        jobs = [self.complete(upload) for upload in incoming]
        return [self.wait(job.id) for job in jobs] if wait else jobs

    def complete(self, incoming: IncomingUpload, *, wait: bool = False) -> Job:
        """The body is all here: make it durable; queue the job and start its transfer,
        or, when it runs already (pipelined), record that the body is complete. With
        ``wait`` (the client waits for the link), the job once finished."""
        job = self._complete(incoming, wait)
        incoming.completed = True
        return job

    def _complete(self, incoming: IncomingUpload, wait: bool) -> Job:
        self.reservations.release(incoming.writer.path)  # every byte is here
        if wait:
            return self._complete_and_wait(incoming)
        size, sha256 = incoming.writer.finish()
        if not incoming.pipelined:
            return self.queue(incoming.job.id, size, sha256)
        try:
            job = self._record_body(
                incoming.job.id,
                size,
                sha256,
                expect={JobState.RECEIVING},
                state=JobState.TRANSFERRING,
            )
        except StateConflict:  # the transfer already ended (done or failed)
            return self._record_body(incoming.job.id, size, sha256)
        record_transition(job, JobState.RECEIVING)
        return job

    def _complete_and_wait(self, incoming: IncomingUpload) -> Job:
        """``complete`` for a client that waits for the link.

        A pipelined transfer then needs no durable spool file unless it fails: the
        client is told nothing before the backend has confirmed the object, and no one
        else knows the job's id. So the spool file is fsynced only when the transfer did
        not end in `done` (kept for a retry, or queued again for any worker when it was
        given up); the fsync of a 256 MiB file was most of the time from the last byte to
        the link (docs/benchmarks.md).
        """
        if not incoming.pipelined:
            return self.wait(self.complete(incoming).id)
        size, sha256 = incoming.writer.finish(fsync=False)
        job = self.transfers.settle(incoming.job.id)
        if job is None:  # only retention deletes a job, and not one this recent
            raise JobNotFound(incoming.job.id)
        if job.state is JobState.RECEIVING:  # given up unfinished (shutdown, lost lease)
            self.spool.make_durable(incoming.writer.path)
            return self.wait(self.queue(job.id, size, sha256).id)
        if job.state is not JobState.DONE:  # failed: kept for a retry
            self.spool.make_durable(incoming.writer.path)
        # The transfer ended before the body's size and digest were known: its event
        # is written now, with them (TransferRunner._change).
        return self._record_body(job.id, size, sha256, announce=self.transfers.announce_end(job))

    def queue(self, job_id: str, size: int, sha256: str) -> Job:
        """Every byte of a receiving job is durable in its spool file: queue the job and
        start its transfer. Also for tus uploads, whose bytes came in several requests.
        StateConflict when the job is no longer receiving (another request queued it)."""
        job = self._record_body(
            job_id, size, sha256, expect={JobState.RECEIVING}, state=JobState.QUEUED
        )
        record_transition(job, JobState.RECEIVING)
        if job.spool_path:  # a tus upload's last byte: its reservation is used up
            self.reservations.release(job.spool_path)
        self.transfers.submit(job.id)
        return job

    def _record_body(self, job_id: str, size: int, sha256: str, **changes: Any) -> Job:
        """The whole body's size and digest go on the job, with ``changes``, and its
        bytes into the received count: once per body, as a refused update (StateConflict)
        records nothing."""
        job = self.jobs.update(job_id, size=size, sha256=sha256, bytes_received=size, **changes)
        record_received(size)
        return job

    def delete_incoming(self, incoming: IncomingUpload) -> None:
        """The body never completed (or was refused): nothing was acknowledged, so the
        job and its spool file go; no client holds its id."""
        incoming.writer.close()
        self.delete_unqueued(incoming.job)

    def delete_unqueued(self, job: Job) -> None:
        """Delete a job that was never queued, with its spool file (an abandoned body,
        a terminated or expired tus upload)."""
        if job.spool_path:
            self.spool.delete(job.spool_path)
        self.jobs.delete(job.id)
        if self.quota is not None:
            self.quota.forget(job.id)
        record_transition(job, JobState.RECEIVING, ABANDONED)

    def wait(self, job_id: str) -> Job:
        return self.transfers.wait(job_id)

    def find(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)
