"""Which transfers may run while their body arrives: never on a worker's last free thread."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from paimon.jobs.model import Job, JobState, new_job_id
from paimon.jobs.owners import LeaseOwners
from paimon.jobs.sqlite import SqliteJobStore
from paimon.spool.writer import Spool, SpoolWriter
from paimon.storage.mega import MegaStorage
from paimon.uploads.intake import UploadService
from paimon.uploads.keeping import KeepPolicy
from paimon.uploads.maintenance import Maintenance
from paimon.uploads.progress import ProgressWriter
from paimon.uploads.refusals import RefusingStore
from paimon.uploads.reservations import Reservations
from paimon.uploads.transfers import Growing, TransferRunner
from tests.support.mega import download
from tests.support.megasim import MegaSim
from tests.support.servers import eventually


def runner(backend: MegaStorage, tmp_path: Path, concurrency: int) -> TransferRunner:
    store = SqliteJobStore(tmp_path / "jobs.sqlite")
    return TransferRunner(
        store,
        backend,
        Spool(tmp_path / "spool"),
        owners=LeaseOwners(tmp_path / "owners"),
        concurrency=concurrency,
        lease_seconds=30,
        retry_seconds=3600,
    )


def take_over_orphans(transfers: TransferRunner) -> None:
    """One pass of the worker's maintenance thread, taking over orphaned jobs."""
    maintenance = Maintenance(
        transfers,
        transfers.store,
        transfers.spool,
        owners=transfers.owners,
        lease_seconds=30,
        retention_seconds=3600,
    )
    maintenance.take_over_orphans()


def upload_service(transfers: TransferRunner, storage: MegaStorage) -> UploadService:
    """The intake use case on the runner's store and spool, with no disk floor."""
    return UploadService(
        storage=storage,
        spool=transfers.spool,
        jobs=RefusingStore(transfers.store),  # type: ignore[arg-type]
        transfers=transfers,
        reservations=Reservations(transfers.spool, min_free_bytes=0, max_pending=0),
        progress=ProgressWriter(transfers.store),
        keeping=KeepPolicy(storage, max_days=None, default_days=None),
    )


def receiving(transfers: TransferRunner, size: int) -> tuple[Job, SpoolWriter]:
    """A job whose body of ``size`` bytes is arriving into its spool file."""
    writer = transfers.spool.new_writer(expected_size=size)
    job = Job(id=new_job_id(), filename="arriving.bin", backend="mega")
    job.spool_path = str(writer.path)
    transfers.store.create(job)
    return job, writer


def test_one_thread_stays_free_for_complete_uploads(
    megasim: MegaSim, backend: MegaStorage, tmp_path: Path
) -> None:
    transfers = runner(backend, tmp_path, concurrency=3)
    content = os.urandom(300_000)
    first, first_body = receiving(transfers, len(content))
    second, second_body = receiving(transfers, len(content))
    third, _ = receiving(transfers, len(content))
    try:
        assert transfers.submit(first.id, Growing(len(content), first_body.wait_for_bytes))
        assert transfers.submit(second.id, Growing(len(content), second_body.wait_for_bytes))
        # Two transfers wait for their bodies: the third thread is kept.
        assert not transfers.submit(third.id, Growing(len(content), lambda count: None))
        for body in (first_body, second_body):
            body.write(memoryview(content))
            body.finish()
        for job in (first, second):
            done = transfers.wait(job.id)
            assert done.state is JobState.DONE, done.error
            assert done.link is not None
            assert download(megasim, done.link) == content
    finally:
        transfers.shutdown()


def test_a_single_transfer_thread_is_never_held_by_a_body(
    backend: MegaStorage, tmp_path: Path
) -> None:
    transfers = runner(backend, tmp_path, concurrency=1)
    job, body = receiving(transfers, 1000)
    try:
        assert not transfers.submit(job.id, Growing(1000, body.wait_for_bytes))
    finally:
        body.close()
        transfers.shutdown()


def test_a_waited_for_upload_given_up_mid_transfer_is_queued_for_any_worker(
    megasim: MegaSim, backend: MegaStorage, tmp_path: Path
) -> None:
    """The client waits for the link, so the spool file is not fsynced up front; when
    the transfer is given up (this worker stops), the body is made durable and queued,
    and another worker finishes it."""
    first = runner(backend, tmp_path, concurrency=2)
    uploads = upload_service(first, backend)
    content = os.urandom(3 * 1024 * 1024)
    receipt = uploads.begin("given-up.bin", len(content))
    assert receipt.pipelined
    megasim.throttle(1_000_000)  # bytes per second: 3 s, still running when stopped
    receipt.writer.write(memoryview(content))
    outcome: list[Job] = []
    waiting = threading.Thread(target=lambda: outcome.append(uploads.complete(receipt, wait=True)))
    waiting.start()
    assert eventually(lambda: receipt.writer.closed), "the body was never completed"
    first.shutdown()  # as gunicorn's worker_exit does
    waiting.join(60)
    megasim.throttle(0)
    assert outcome and outcome[0].state is JobState.QUEUED
    assert Path(receipt.job.spool_path or "").read_bytes() == content

    second = runner(backend, tmp_path, concurrency=2)  # the next worker
    try:
        take_over_orphans(second)
        done = second.wait(receipt.job.id)
    finally:
        second.shutdown()
    assert done.state is JobState.DONE, done.error
    assert done.link is not None and download(megasim, done.link) == content


def test_orphans_are_shared_by_free_transfer_slots(
    megasim: MegaSim, backend: MegaStorage, tmp_path: Path
) -> None:
    """Issue 16: one worker used to queue every orphan while the others idled. Each
    takes as many as it has free slots; the rest wait for the next pass, anywhere."""
    first = runner(backend, tmp_path, concurrency=1)
    second = runner(backend, tmp_path, concurrency=1)
    contents = [os.urandom(400_000 + n) for n in range(3)]
    orphans = []
    for content in contents:  # queued by a worker that died before it ran them
        job, body = receiving(first, len(content))
        body.write(memoryview(content))
        body.finish()
        first.store.update(job.id, state=JobState.QUEUED, size=len(content))
        orphans.append(job.id)
    megasim.throttle(200_000)  # bytes per second: each transfer takes 2 s
    try:
        take_over_orphans(first)
        take_over_orphans(second)
        taken = [set(first._running), set(second._running)]
        assert [len(ids) for ids in taken] == [1, 1], taken
        assert taken[0] != taken[1]
        megasim.throttle(0)

        def next_passes() -> bool:  # as the maintenance threads would, until all are done
            take_over_orphans(first)
            take_over_orphans(second)
            return all(first.store.get(job_id).state is JobState.DONE for job_id in orphans)

        assert eventually(next_passes, timeout=60, interval=0.2)
        for job_id, content in zip(orphans, contents, strict=True):
            link = first.store.get(job_id).link
            assert link is not None and download(megasim, link) == content
    finally:
        megasim.throttle(0)
        first.shutdown()
        second.shutdown()
