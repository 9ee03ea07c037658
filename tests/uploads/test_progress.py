"""Progress written by one thread (paimon/uploads/progress.py), on a real SQLite store."""

from __future__ import annotations

from pathlib import Path

from paimon.jobs.model import JobState
from paimon.jobs.sqlite import SqliteJobStore
from paimon.uploads.progress import ProgressWriter
from tests.support.jobstores import make_job
from tests.support.servers import eventually


def test_the_latest_count_is_written_and_never_over_a_finished_job(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    try:
        receiving, finished = make_job(), make_job()
        store.create(receiving)
        store.create(finished)
        writer = ProgressWriter(store, interval=0.05)
        for count in (10, 20, 30):  # only the last is worth a write
            writer.report(receiving.id, count)
        assert eventually(lambda: store.get(receiving.id).bytes_received == 30, timeout=5)
        store.update(finished.id, state=JobState.QUEUED, size=99, bytes_received=99)
        writer.report(finished.id, 50)  # a count noted before the body's end was recorded
        writer.report("no-such-job", 5)  # deleted meanwhile
        writer.flush()
        assert store.get(finished.id).bytes_received == 99
    finally:
        store.close()
