"""What only the SQLite store has: its file, its pragmas, its schema."""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from paimon.jobs import sqlite_listing
from paimon.jobs.listing import JobQuery
from paimon.jobs.model import Job, JobState
from paimon.jobs.sqlite import SqliteJobStore
from tests.support.jobstores import StoreSpec, create_jobs, in_processes, make_job


def test_connection_settings(tmp_path: Path, autoclose) -> None:
    store = autoclose(SqliteJobStore(tmp_path / "jobs.sqlite3"))
    store.check()
    with store._db() as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert connection.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000


def test_schema_has_one_typed_column_per_job_field_and_indexes(tmp_path: Path, autoclose) -> None:
    path = tmp_path / "jobs.sqlite3"
    autoclose(SqliteJobStore(path)).check()
    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent
        columns = {
            name: (kind, bool(not_null))
            for _, name, kind, not_null, _, _ in connection.execute("PRAGMA table_info(jobs)")
        }
        indexed = {
            connection.execute(f"PRAGMA index_info({name})").fetchone()[2]
            for _, name, *_ in connection.execute("PRAGMA index_list(jobs)")
        }
    assert list(columns) == [field.name for field in dataclasses.fields(Job)] + ["name_key"]
    assert columns["state"] == ("TEXT", True)
    assert columns["size"] == ("INTEGER", False)
    assert columns["retryable"] == ("INTEGER", False)
    assert columns["lease_expires"] == ("REAL", True)
    assert {"id", "state", "updated_at"} <= indexed


def test_a_file_from_before_retries_and_fencing_gets_their_columns(
    tmp_path: Path, autoclose
) -> None:
    """A data directory of an older version keeps its jobs: the fields added since get
    their columns, with the defaults, on first open."""
    path = tmp_path / "jobs.sqlite3"
    autoclose(SqliteJobStore(path)).check()
    job = make_job(state=JobState.QUEUED)
    with closing(sqlite3.connect(path)) as connection:
        undo_listing(connection)
        connection.execute("ALTER TABLE jobs DROP COLUMN next_retry_at")
        connection.execute("ALTER TABLE jobs DROP COLUMN lease_token")
        insert_as_older(connection, job)
        connection.commit()
    store = autoclose(SqliteJobStore(path))
    loaded = store.get(job.id)
    assert (loaded.next_retry_at, loaded.lease_token) == (None, 0)
    assert store.acquire_lease(job.id, "worker-a", 60) == 1


def insert_as_older(connection: sqlite3.Connection, job: Job) -> None:
    """Insert ``job`` as a version with the table's present columns would have (a
    JobState is a str: sqlite3 stores its value)."""
    old_columns = [row[1] for row in connection.execute("PRAGMA table_info(jobs)")]
    connection.execute(
        f"INSERT INTO jobs ({', '.join(old_columns)}) VALUES ({', '.join('?' * len(old_columns))})",
        [
            getattr(job, name).value if name == "state" else getattr(job, name)
            for name in old_columns
        ],
    )


def undo_listing(connection: sqlite3.Connection) -> None:
    """Make a file as a version without the owner's console left it: no name keys, no
    listing indexes, no upload links."""
    for name in sqlite_listing.LISTING_INDEXES:
        connection.execute(f"DROP INDEX {name}")
    connection.execute("DROP TABLE upload_links")
    for name in ("name_key", "uploader_label", "upload_link", "folder", "stored_at"):
        connection.execute(f"ALTER TABLE jobs DROP COLUMN {name}")


def test_a_file_from_before_the_console_gets_its_jobs_listed(tmp_path: Path, autoclose) -> None:
    """Jobs an older version stored are listed and found by name once the file is
    opened by this one: the migration fills in their name keys."""
    path = tmp_path / "jobs.sqlite3"
    autoclose(SqliteJobStore(path)).check()
    jobs = [make_job(filename=f"Été {n}.jpg", created_at=float(n)) for n in range(3)]
    with closing(sqlite3.connect(path)) as connection:
        undo_listing(connection)
        for job in jobs:
            insert_as_older(connection, job)
        connection.commit()
    store = autoclose(SqliteJobStore(path))
    page = store.list_jobs(JobQuery(name="été"))
    assert [job.id for job in page.jobs] == [job.id for job in reversed(jobs)]
    assert store.totals().all[JobState.RECEIVING].uploads == 3
    store.delete(jobs[0].id)
    assert len(store.list_jobs(JobQuery(name="ÉTÉ 0")).jobs) == 0


def test_a_new_connection_reads_while_another_holds_the_write_lock(
    tmp_path: Path, autoclose
) -> None:
    """A worker stopped in the middle of a write (SIGSTOP, a swapping host) holds the
    file's write lock until it runs again; WAL lets reads go on meanwhile, and so does a
    connection opened then (GET /status in a thread that had none): it used to create
    the schema under BEGIN IMMEDIATE, wait out busy_timeout and answer 503."""
    path = tmp_path / "jobs.sqlite3"
    job = make_job(state=JobState.QUEUED)
    autoclose(SqliteJobStore(path)).create(job)
    with closing(sqlite3.connect(path, isolation_level=None)) as writer:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE jobs SET filename = 'being-written'")
        reader = autoclose(SqliteJobStore(path))  # opens its first connection now
        assert reader.get(job.id).filename == job.filename
        writer.execute("ROLLBACK")


def test_a_file_missing_an_index_gets_it_on_first_open(tmp_path: Path, autoclose) -> None:
    path = tmp_path / "jobs.sqlite3"
    autoclose(SqliteJobStore(path)).check()
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("DROP INDEX jobs_removable")
    autoclose(SqliteJobStore(path)).check()
    with closing(sqlite3.connect(path)) as connection:
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert "jobs_removable" in names


def test_rows_are_plain_columns(tmp_path: Path, autoclose) -> None:
    """Other tools (sqlite3 on the shell) can read the jobs: no JSON, no pickles."""
    path = tmp_path / "jobs.sqlite3"
    store = autoclose(SqliteJobStore(path))
    job = make_job(state=JobState.FAILED, retryable=True, size=7)
    store.create(job)
    with closing(sqlite3.connect(path)) as connection:
        row = connection.execute(
            "SELECT state, retryable, size, link FROM jobs WHERE id = ?", (job.id,)
        ).fetchone()
    assert row == ("failed", 1, 7, None)


def test_a_fresh_file_opened_by_many_processes_at_once(tmp_path: Path, autoclose) -> None:
    """Workers starting together race to create the schema and switch to WAL."""
    spec = StoreSpec("sqlite", str(tmp_path / "jobs.sqlite3"))
    created = in_processes(create_jobs, spec, [f"worker-{n}" for n in range(8)], 5)
    store = autoclose(spec.open())
    assert sum(store.counts().values()) == 40
    assert all(store.get(job_id) for ids in created.values() for job_id in ids)


@pytest.mark.parametrize(
    ("make_path", "reason"),
    [
        (lambda tmp: tmp / "missing-dir" / "jobs.sqlite3", "unable to open database file"),
        (lambda tmp: tmp, "unable to open database file"),  # a directory
        (lambda tmp: tmp / "garbage.sqlite3", "file is not a database"),
    ],
)
def test_check_names_the_file_and_the_reason(
    tmp_path: Path, make_path, reason: str, autoclose
) -> None:
    (tmp_path / "garbage.sqlite3").write_bytes(b"not a database, just bytes" * 100)
    path = make_path(tmp_path)
    with pytest.raises(RuntimeError) as caught:
        autoclose(SqliteJobStore(path)).check()
    assert str(path) in str(caught.value) and reason in str(caught.value)


def test_a_failed_open_is_retried_on_next_use(tmp_path: Path, autoclose) -> None:
    path = tmp_path / "later" / "jobs.sqlite3"
    store = autoclose(SqliteJobStore(path))
    with pytest.raises(RuntimeError):
        store.check()
    path.parent.mkdir()
    store.check()
    job = make_job()
    store.create(job)
    assert store.get(job.id) == job
