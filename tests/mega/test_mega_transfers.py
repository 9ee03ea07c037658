"""Which transfers may run while their body arrives: never on a worker's last free thread."""

from __future__ import annotations

import os
from pathlib import Path

from paimon.jobs.model import Job, JobState, new_job_id
from paimon.jobs.sqlite import SqliteJobStore
from paimon.services.spool import Spool, SpoolWriter
from paimon.services.transfers import Growing, TransferRunner
from paimon.storage.mega import MegaStorage
from tests.fixtures.megasim import MegaSim
from tests.mega.support import download


def runner(backend: MegaStorage, tmp_path: Path, concurrency: int) -> TransferRunner:
    store = SqliteJobStore(tmp_path / "jobs.sqlite")
    return TransferRunner(
        store,
        backend,
        Spool(tmp_path / "spool"),
        concurrency=concurrency,
        lease_seconds=30,
        retention_seconds=3600,
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
