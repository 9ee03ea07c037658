"""The job store of one machine: a SQLite file in the data directory, in WAL mode.

Every (process, thread) opens its own connection, and every change is one SQL
statement, so each is atomic on its own: SQLite's file locks serialise writers across
all gunicorn workers, WAL lets readers run alongside them, and no transaction is ever
held open across Python code.

synchronous=FULL: a job a client has been told about survives a power loss, like the
spool file the upload blueprint fsyncs. It costs one WAL fsync per commit, little next
to moving the upload itself.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path

from paimon.jobs import sqlite_links, sqlite_listing, sqlite_outbox
from paimon.jobs.codec import JOB_FIELDS, Stored, changes_to_stored, job_from_stored, job_to_stored
from paimon.jobs.listing import name_key
from paimon.jobs.model import FINISHED, RESUMABLE, Job, JobState
from paimon.jobs.outbox import Announcement, snapshot
from paimon.jobs.sqlite_links import SqliteUploadLinks
from paimon.jobs.sqlite_listing import NAME_KEY_COLUMN, SqliteListing
from paimon.jobs.sqlite_outbox import SqliteOutbox
from paimon.jobs.store import (
    Fence,
    JobNotFound,
    LeaseLost,
    StateConflict,
    StoreDiskFull,
    StoreUnavailable,
)

BUSY_TIMEOUT_SECONDS = 10.0
_SQL_TYPES = {str: "TEXT", JobState: "TEXT", int: "INTEGER", bool: "INTEGER", float: "REAL"}
_COLUMNS = ", ".join(JOB_FIELDS)


def _column(name: str) -> str:
    if name == NAME_KEY_COLUMN:
        return f"{name} TEXT"
    spec = JOB_FIELDS[name]
    key = " PRIMARY KEY" if name == "id" else ""
    return f"{name} {_SQL_TYPES[spec.kind]}{key}{'' if spec.nullable else ' NOT NULL'}"


def _added_column(name: str) -> str:
    """A column added to a file an older version made: its rows get the field's default
    (a name key is filled in afterwards: sqlite_listing.fill_name_keys)."""
    default = job_to_stored(Job(id="", filename="", backend="")).get(name)
    return f"{_column(name)} DEFAULT {'NULL' if default is None else repr(default)}"


def _creating(indexes: dict[str, str]) -> str:
    return "".join(
        f"CREATE INDEX IF NOT EXISTS {name} ON jobs {on};\n" for name, on in indexes.items()
    )


_TABLE_INDEXES = {"jobs_by_state": "(state)", "jobs_by_updated_at": "(updated_at)"}
# Only the stored uploads with a limit are in the sweep's index; made once the columns
# it names exist (after _add_new_columns, in a file an older version made).
_REMOVABLE = (
    "state = 'done' AND removed_at IS NULL"
    " AND (expires_at IS NOT NULL OR max_downloads IS NOT NULL)"
)
_LATER_INDEXES = {
    "jobs_by_storage_key": "(storage_key)",
    "jobs_removable": f"(expires_at) WHERE {_REMOVABLE}",
}
# One column per Job field, typed after it, and the name key the listing searches;
# BEGIN IMMEDIATE: workers starting at once create it one after the other.
_TABLE_COLUMNS = [*JOB_FIELDS, NAME_KEY_COLUMN]
_SCHEMA = f"""
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS jobs ({", ".join(map(_column, _TABLE_COLUMNS))});
{_creating(_TABLE_INDEXES)}COMMIT;
"""
# Indexes, tables and triggers made once the columns they name exist (after
# _add_new_columns, in a file an older version made), in the same transaction.
_LATER_STATEMENTS = [
    *(f"CREATE INDEX IF NOT EXISTS {name} ON jobs {on}" for name, on in _LATER_INDEXES.items()),
    *sqlite_listing.STATEMENTS,
    *sqlite_links.STATEMENTS,
    *sqlite_outbox.STATEMENTS,
]
_INDEX_NAMES = (
    _TABLE_INDEXES.keys()
    | _LATER_INDEXES.keys()
    | sqlite_listing.LISTING_INDEXES.keys()
    | sqlite_links.INDEX_NAMES
    | sqlite_outbox.INDEXES.keys()
)
# Column names below come from JOB_FIELDS, never from callers; values are always bound.
_INSERT = (
    f"INSERT INTO jobs ({', '.join(_TABLE_COLUMNS)})"  # noqa: S608
    f" VALUES ({', '.join('?' * len(_TABLE_COLUMNS))})"
)


def _missing_columns(connection: sqlite3.Connection) -> set[str]:
    """The columns the jobs table lacks (all of them: no table yet)."""
    present = {row["name"] for row in connection.execute("PRAGMA table_info(jobs)")}
    return set(_TABLE_COLUMNS) - present


def _in(states: Iterable[JobState]) -> tuple[str, list[str]]:
    """``IN (?, ...)`` and its parameters for a set of states."""
    values = sorted(JobState(state).value for state in states)
    return f"IN ({', '.join('?' * len(values))})", values


_IN_FINISHED, _FINISHED = _in(FINISHED)
_IN_RESUMABLE, _RESUMABLE = _in(RESUMABLE)
# The unfinished states by name (not NOT IN): the state index serves the leases, which
# every maintenance pass reads, however many stored jobs the table keeps.
_IN_UNFINISHED, _UNFINISHED = _in(set(JobState) - FINISHED)


#: Connections per process: SQLite runs one write at a time, and WAL lets a few
#: readers go alongside.
POOL_SIZE = 4


class ConnectionPool:
    """At most ``size`` connections, opened when needed and lent to one thread at a
    time; a thread that finds all lent waits for one to come back."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], size: int):
        self._connect = connect
        self._idle: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._room = threading.BoundedSemaphore(size)  # connections not lent out

    @contextlib.contextmanager
    def lent(self) -> Iterator[sqlite3.Connection]:
        self._room.acquire()
        try:
            try:
                connection = self._idle.get_nowait()
            except queue.Empty:
                connection = self._connect()
            try:
                yield connection
            finally:
                self._idle.put(connection)
        finally:
            self._room.release()

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


class SqliteJobStore(SqliteListing, SqliteUploadLinks, SqliteOutbox):
    """Jobs in one SQLite file, shared by every worker process of a machine, with the
    listing the owner's console reads (sqlite_listing.py), the upload links
    (sqlite_links.py) and the outbox of webhook deliveries (sqlite_outbox.py)."""

    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._pools: dict[int, ConnectionPool] = {}  # by process id

    def __repr__(self) -> str:
        return f"SqliteJobStore({str(self.path)!r})"

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """One of this process's connections, lent for one statement.

        Threads share at most POOL_SIZE connections: a connection costs about 130 KiB
        (SQLite's lookaside and page cache), and one per thread cost 60 MiB for 500
        threads receiving slow uploads, while SQLite writes one statement at a time
        anyway. The pool is this process's own: a forked worker opens its connections
        and never touches (not even closes) the ones it inherited, as SQLite requires.
        """
        pool = self._pools.get(os.getpid()) or self._pools.setdefault(
            os.getpid(), ConnectionPool(self._connect, POOL_SIZE)
        )
        with pool.lent() as connection:
            yield connection

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: each statement commits on its own (no implicit BEGIN).
        # check_same_thread=False: _db() lends a connection to one thread at a time,
        # not always the same one.
        connection = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA synchronous = FULL")
            self._enable_wal(connection)
            if not self._is_current(connection):
                connection.executescript(_SCHEMA)
                self._add_new_columns(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    @staticmethod
    def _enable_wal(connection: sqlite3.Connection) -> None:
        """Switch the file to WAL (it stays so). On a new file, workers starting at once
        race for it, and the switch fails at once instead of waiting out busy_timeout."""
        deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
        while True:
            try:
                connection.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                busy = exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
                if not busy or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    @staticmethod
    def _is_current(connection: sqlite3.Connection) -> bool:
        """Whether the file has every column and index already, read without a lock.

        Creating them takes the write lock (BEGIN IMMEDIATE), and a new connection that
        always did waited out busy_timeout, then failed, while another worker was
        stopped in the middle of a write: a plain read (GET /status) then answered 503
        where WAL would have let it through.
        """
        indexes = {
            row["name"]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        return not _missing_columns(connection) and indexes >= _INDEX_NAMES

    @staticmethod
    def _add_new_columns(connection: sqlite3.Connection) -> None:
        """Give a jobs table made by an older version the fields, indexes and tables
        added since, and its jobs their name keys (workers starting at once: the first
        adds them, the others find them there)."""
        connection.execute("BEGIN IMMEDIATE")
        try:
            for name in _missing_columns(connection):
                connection.execute(f"ALTER TABLE jobs ADD COLUMN {_added_column(name)}")
            for statement in _LATER_STATEMENTS:
                connection.execute(statement)
            sqlite_listing.fill_name_keys(connection)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def _rows(self, sql: str, params: Iterable[Stored] | dict = ()) -> list[sqlite3.Row]:
        """Run a statement to its end (which commits it) and return its rows; named
        parameters in a dict, else positional ones."""
        with self._usable(), self._db() as db:
            bound = params if isinstance(params, dict) else tuple(params)
            return db.execute(sql, bound).fetchall()

    def _rows_announcing(
        self,
        sql: str,
        params: Iterable[Stored],
        announce: Announcement | None,
        occurred_at: float | None = None,
    ) -> list[sqlite3.Row]:
        """``_rows`` for a statement that changes one job (returning it), with the
        announcement's deliveries inserted in the same transaction when it did: the
        outbox holds exactly the events of the changes that happened. ``occurred_at``:
        the event's time, else the job's new ``updated_at``."""
        if announce is None:
            return self._rows(sql, params)
        with self._usable(), self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                rows = db.execute(sql, tuple(params)).fetchall()
                if rows:
                    job = dict(rows[0])
                    when = job["updated_at"] if occurred_at is None else occurred_at
                    sqlite_outbox.insert(db, announce.deliveries(job["id"], snapshot(job), when))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                raise
            return rows

    def _changed(self, sql: str, params: Iterable[Stored]) -> bool:
        """Run a single-row UPDATE; whether it matched."""
        with self._usable(), self._db() as db:
            return db.execute(sql, tuple(params)).rowcount == 1

    @contextlib.contextmanager
    def _usable(self) -> Iterator[None]:
        """SQLite's operational errors (cannot open, I/O error, locked past the busy
        timeout, disk full) as StoreUnavailable: the store, not the request, failed."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode == sqlite3.SQLITE_FULL:
                raise StoreDiskFull(f"the SQLite job store {self.path}: its disk is full") from exc
            raise StoreUnavailable(f"the SQLite job store {self.path} is unusable: {exc}") from exc

    def create(self, job: Job) -> None:
        try:
            self._rows(_INSERT, [*job_to_stored(job).values(), name_key(job.filename)])
        except sqlite3.IntegrityError as exc:
            raise ValueError(f"a job with id {job.id!r} exists already") from exc

    def get(self, job_id: str) -> Job | None:
        rows = self._rows(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", [job_id])  # noqa: S608
        return job_from_stored(dict(rows[0])) if rows else None

    def update(
        self,
        job_id: str,
        *,
        expect: Collection[JobState] | None = None,
        fence: Fence | None = None,
        unless_set: str | None = None,
        announce: Announcement | None = None,
        **changes: object,
    ) -> Job:
        values = changes_to_stored(changes)
        if unless_set is not None and unless_set not in JOB_FIELDS:
            raise TypeError(f"Job has no field {unless_set!r}")
        assignments = ", ".join(f"{name} = ?" for name in values)
        sql = f"UPDATE jobs SET {assignments} WHERE id = ?"  # noqa: S608
        params = [*values.values(), job_id]
        if expect is not None:
            in_expected, expected = _in(expect)
            sql += f" AND state {in_expected}"
            params += expected
        if fence is not None:  # in the same statement: checked and written atomically
            sql += " AND lease_owner = ? AND lease_token = ? AND state != ?"
            params += [fence.owner, fence.token, JobState.DONE.value]
        if unless_set is not None:  # a name from JOB_FIELDS, checked above
            sql += f" AND {unless_set} IS NULL"
        rows = self._rows_announcing(f"{sql} RETURNING {_COLUMNS}", params, announce)
        if rows:
            return job_from_stored(dict(rows[0]))
        current = self._rows(
            "SELECT state, lease_owner, lease_token FROM jobs WHERE id = ?", [job_id]
        )
        if not current:
            raise JobNotFound(job_id)
        now_in, owner, token = current[0]
        if fence is not None and (
            now_in == JobState.DONE or (owner, token) != (fence.owner, fence.token)
        ):
            raise LeaseLost(f"job {job_id}: the lease with token {fence.token} is lost")
        if unless_set is not None and (expect is None or now_in in {s.value for s in expect}):
            raise StateConflict(f"job {job_id} has {unless_set} set already")
        wanted = sorted(JobState(state).value for state in expect or ())
        raise StateConflict(f"job {job_id} is {now_in}, not one of {wanted}")

    def counts(self) -> dict[JobState, int]:
        rows = self._rows("SELECT state, count(*) FROM jobs GROUP BY state")
        return {state: 0 for state in JobState} | {JobState(state): n for state, n in rows}

    def acquire_lease(self, job_id: str, owner: str, ttl: float) -> int | None:
        now = time.time()
        rows = self._rows(
            "UPDATE jobs SET lease_owner = ?, lease_expires = ?,"  # noqa: S608
            " lease_token = lease_token + 1"
            f" WHERE id = ? AND state NOT {_IN_FINISHED}"
            " AND (lease_owner IS NULL OR lease_owner = ? OR lease_expires <= ?)"
            " RETURNING lease_token",
            [owner, now + ttl, job_id, *_FINISHED, owner, now],
        )
        return rows[0]["lease_token"] if rows else None

    def renew_lease(self, job_id: str, owner: str, ttl: float) -> bool:
        return self._changed(
            "UPDATE jobs SET lease_expires = ? WHERE id = ? AND lease_owner = ?",
            [time.time() + ttl, job_id, owner],
        )

    def release_lease(self, job_id: str, owner: str) -> None:
        self._changed(
            "UPDATE jobs SET lease_owner = NULL, lease_expires = 0.0"
            " WHERE id = ? AND lease_owner = ?",
            [job_id, owner],
        )

    def leases(self) -> dict[str, str]:
        rows = self._rows(
            f"SELECT id, lease_owner FROM jobs WHERE state {_IN_UNFINISHED}"  # noqa: S608
            " AND lease_owner IS NOT NULL",
            _UNFINISHED,
        )
        return {row["id"]: row["lease_owner"] for row in rows}

    def resumable(self, now: float) -> list[str]:
        rows = self._rows(
            f"SELECT id FROM jobs WHERE state {_IN_RESUMABLE}"  # noqa: S608
            " AND (lease_owner IS NULL OR lease_expires <= ?) ORDER BY created_at",
            [*_RESUMABLE, now],
        )
        return [row["id"] for row in rows]

    def awaiting_retry(self) -> dict[str, float]:
        rows = self._rows(
            "SELECT id, next_retry_at FROM jobs WHERE state = ? AND next_retry_at IS NOT NULL",
            [JobState.FAILED.value],
        )
        return {row["id"]: row["next_retry_at"] for row in rows}

    def purgeable_before(self, cutoff: float) -> list[Job]:
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM jobs"  # noqa: S608
            f" WHERE state {_IN_FINISHED} AND updated_at < ?"
            " AND NOT (state = ? AND delete_digest IS NOT NULL) ORDER BY updated_at",
            [*_FINISHED, cutoff, JobState.DONE.value],
        )
        return [job_from_stored(dict(row)) for row in rows]

    def find_stored(self, storage_key: str) -> Job | None:
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM jobs WHERE storage_key = ?",  # noqa: S608
            [storage_key],
        )
        return job_from_stored(dict(rows[0])) if rows else None

    def count_download(self, job_id: str) -> Job | None:
        rows = self._rows(
            "UPDATE jobs SET downloads = downloads + 1"  # noqa: S608
            " WHERE id = ? AND state = ? AND removed_at IS NULL"
            " AND (max_downloads IS NULL OR downloads < max_downloads)"
            f" RETURNING {_COLUMNS}",
            [job_id, JobState.DONE.value],
        )
        return job_from_stored(dict(rows[0])) if rows else None

    def removable(self, now: float) -> list[Job]:
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM jobs WHERE {_REMOVABLE}"  # noqa: S608
            " AND (expires_at <= ? OR downloads >= max_downloads) ORDER BY expires_at",
            [now],
        )
        return [job_from_stored(dict(row)) for row in rows]

    def stale_receiving(self, cutoff: float) -> list[Job]:
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM jobs"  # noqa: S608
            " WHERE state = ? AND updated_at < ? ORDER BY updated_at",
            [JobState.RECEIVING.value, cutoff],
        )
        return [job_from_stored(dict(row)) for row in rows]

    def active_spool_paths(self) -> set[str]:
        rows = self._rows(
            "SELECT spool_path FROM jobs WHERE state != ? AND spool_path IS NOT NULL",
            [JobState.DONE.value],
        )
        return {row["spool_path"] for row in rows}

    def delete(self, job_id: str, *, announce: Announcement | None = None) -> Job | None:
        rows = self._rows_announcing(
            f"DELETE FROM jobs WHERE id = ? RETURNING {_COLUMNS}",  # noqa: S608
            [job_id],
            announce,
            occurred_at=time.time(),
        )
        return job_from_stored(dict(rows[0])) if rows else None

    def close(self) -> None:
        """Close this process's connections, when no thread uses the store any more (a
        later call opens new ones)."""
        pool = self._pools.pop(os.getpid(), None)
        if pool is not None:
            pool.close()

    def check(self) -> None:
        try:
            self._rows("SELECT count(*) FROM jobs")
        except StoreUnavailable as exc:
            raise RuntimeError(str(exc)) from exc
        except sqlite3.Error as exc:
            raise RuntimeError(f"the SQLite job store {self.path} is unusable: {exc}") from exc
