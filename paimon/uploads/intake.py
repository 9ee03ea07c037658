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
from pathlib import Path
from typing import Any, BinaryIO

from paimon.jobs.model import FINISHED, Job, JobState, new_job_id
from paimon.jobs.outbox import DELETED as DELETED_EVENT
from paimon.jobs.store import (
    JobNotFound,
    JobStore,
    StateConflict,
)
from paimon.observability.job_events import (
    ABANDONED,
    record_received,
    record_refusal,
    record_transition,
)
from paimon.observability.logs import reference
from paimon.spool.bodies import copy_body
from paimon.spool.writer import Spool, SpoolWriter
from paimon.storage.base import StorageBackend, StoresWhileReceiving
from paimon.uploads.deletion import (
    new_delete_token,
    new_handoff_reference,
    open_handoff,
    seal_for_handoff,
    token_matches,
)
from paimon.uploads.keeping import DELETED, NO_WISHES, Keep, KeepPolicy, why_gone
from paimon.uploads.names import clean_display_name
from paimon.uploads.progress import ProgressWriter
from paimon.uploads.refusals import RefusingStore, UploadRefused
from paimon.uploads.reservations import ReservationRefused, Reservations
from paimon.uploads.transfers import Growing, TransferRunner

log = logging.getLogger("paimon.jobs")


class UnknownService(UploadRefused):
    """The client asked for a storage service this server does not offer."""

    def __init__(self, requested: str, supported: list[str]):
        super().__init__(
            "unknown_service",
            f"Unknown service '{requested}'. This server supports: {', '.join(supported)}.",
        )
        self.supported = supported


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


def in_progress(job: Job) -> UploadRefused:
    return UploadRefused(
        "upload_in_progress",
        f"The upload is {job.state}: it can be deleted once it is done or failed.",
    )


def made_by(job: Job, client: str | None) -> bool:
    """The one owner rule of every request that changes an upload (tus PATCH and
    DELETE, a retry, DELETE /status/<id>): ``client``, the reference of the token the
    request came with, is the one the upload was made under. ``None``, on a server
    without tokens, where an upload's id is its key: anyone who holds it."""
    return client is None or job.uploader == client


class UploadService:
    """The upload use cases, free of HTTP and of any particular backend."""

    def __init__(
        self,
        storage: StorageBackend,
        spool: Spool,
        jobs: JobStore,
        transfers: TransferRunner,
        min_free_bytes: int,
        max_pending: int = 0,
        keeping: KeepPolicy | None = None,
        max_pending_share: float = 1.0,
    ):
        self.storage = storage
        self.keeping = keeping or KeepPolicy(storage, max_days=None, default_days=None)
        self.spool = spool
        self.jobs: JobStore = RefusingStore(jobs)  # type: ignore[assignment]
        self.transfers = transfers
        self.reservations = Reservations(spool, min_free_bytes, max_pending, max_pending_share)
        self.progress = ProgressWriter(jobs)

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
    ) -> IncomingUpload:
        """Open a spool file and a job in state `receiving` for an arriving body, after
        reserving ``reserve`` bytes of disk for it (its declared size, when known) in
        ``owner``'s name (a client reference, for PAIMON_MAX_PENDING_UPLOADS); the job
        is kept as ``keep`` asks (checked by ``check_can_accept``).

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
        pipelined = False
        if expected_size and isinstance(self.storage, StoresWhileReceiving):
            pipelined = self.transfers.submit(job.id, Growing(expected_size, writer.wait_for_bytes))
        return IncomingUpload(job, writer, pipelined, delete_token)

    def receive(
        self,
        body: BinaryIO,
        raw_filename: str | None,
        expected: int | None,
        owner: str = "",
        keep: Keep = NO_WISHES,
    ) -> IncomingUpload:
        """A raw body (PUT) streamed into the spool, for ``complete``; a body that ends
        before its ``expected`` length (the client went away) or is refused midway is
        abandoned. An ``expected`` length is reserved first."""
        incoming = self.begin(raw_filename, expected, reserve=expected, owner=owner, keep=keep)
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
        record_transition(job, JobState.RECEIVING, ABANDONED)

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
        redirected to; the reference that opens them, for the redirect to name
        (paimon/uploads/deletion.py)."""
        reference = new_handoff_reference()
        for job, token in uploads:
            self.jobs.update(job.id, delete_handoff=seal_for_handoff(token, reference))
        return reference

    def take_handoff(self, job: Job, reference: str) -> str | None:
        """The delete token handed off under ``reference``, once: of several requests
        (a reload, a second tab) exactly one gets it, and it is cleared from the job.
        None when it does not open, was taken already, or is too old."""
        token = open_handoff(job.delete_handoff, reference, job.delete_digest)
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
        return self._delete(self.owned(job_id, uploader), "token")

    def owned(self, job_id: str, client: str | None) -> Job:
        """The job ``client`` may change (``made_by``); UploadRefused ``not_found`` for
        someone else's upload as for one that does not exist: nothing tells them apart."""
        job = self.jobs.get(job_id)
        if job is None or not made_by(job, client):
            mine = " made with this token" if client is not None else ""
            raise UploadRefused("not_found", f"No upload with that id{mine}.")
        return job

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
        except BaseException:
            self.jobs.update(job.id, removed_at=None, removed_because=None)  # the claim back
            raise
        if job.spool_path:
            self.spool.delete(job.spool_path)
        self.jobs.delete(job.id, announce=self.transfers.announce(DELETED_EVENT, by))
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

    def wait(self, job_id: str) -> Job:
        return self.transfers.wait(job_id)

    def find(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def retry(self, job_id: str, client: str | None = None) -> Job:
        """Queue a failed job again, if its spool file is still here and ``client`` may
        change it (``made_by``)."""
        job = self.owned(job_id, client)
        if job.state is not JobState.FAILED:
            raise UploadRefused("not_failed", f"The upload is {job.state}, not failed.")
        if not job.spool_path or not Path(job.spool_path).exists():
            raise UploadRefused(
                "spool_gone", "The received file is no longer kept; upload it again."
            )
        try:
            return self.transfers.requeue_failed(job_id)
        except StateConflict:
            raise UploadRefused("not_failed", "The upload is already being retried.") from None
