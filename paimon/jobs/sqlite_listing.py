"""The SQLite store's listing (paimon/jobs/listing.py): its indexes and its page reads.

Each index of ``driving_index`` is a B-tree ordered by ``(created_at, id)`` after its
key, so a page is one range read from the cursor on, never a sort. Names have a table
of their own, ``job_names``: one row per indexed prefix of a job's ``name_key`` (an
internal column of ``jobs``, not a Job field), kept by triggers, so a job and its
prefixes are written and deleted by the same statement, whichever code deletes it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Protocol

from paimon.jobs.codec import JOB_FIELDS, Stored, job_from_stored
from paimon.jobs.listing import (
    PREFIX_LENGTHS,
    SECONDS_PER_DAY,
    Cursor,
    Entry,
    JobPage,
    JobQuery,
    Tally,
    Totals,
    driving_index,
    name_key,
    paginate,
    today,
)
from paimon.jobs.model import Job, JobState

#: The jobs table's one column that is no Job field: the name's key, for search.
NAME_KEY_COLUMN = "name_key"

LISTING_INDEXES = {
    "jobs_list_all": "(created_at, id)",
    "jobs_list_state": "(state, created_at, id)",
    "jobs_list_backend": "(backend, created_at, id)",
    "jobs_list_uploader": "(uploader_label, created_at, id) WHERE uploader_label IS NOT NULL",
    "jobs_list_link": "(upload_link, created_at, id) WHERE upload_link IS NOT NULL",
    "jobs_list_removed": "(created_at, id) WHERE removed_at IS NOT NULL",
}

_LENGTHS = " UNION ALL ".join(f"SELECT {length} AS n" for length in PREFIX_LENGTHS)
# No input in these statements: the prefix lengths are constants.
_ADD_NAMES = (
    "INSERT OR IGNORE INTO job_names (prefix, created_at, id)"  # noqa: S608
    f" SELECT substr(NEW.name_key, 1, n), NEW.created_at, NEW.id FROM ({_LENGTHS})"
    " WHERE n <= length(NEW.name_key);"
)
_OLD_PREFIXES = ", ".join(f"substr(OLD.name_key, 1, {length})" for length in PREFIX_LENGTHS)
_DROP_NAMES = (
    f"DELETE FROM job_names WHERE prefix IN ({_OLD_PREFIXES})"  # noqa: S608
    " AND created_at = OLD.created_at AND id = OLD.id;"
)
TRIGGERS = {
    "jobs_names_added": f"AFTER INSERT ON jobs BEGIN {_ADD_NAMES} END",
    "jobs_names_dropped": f"AFTER DELETE ON jobs BEGIN {_DROP_NAMES} END",
    "jobs_names_changed": f"AFTER UPDATE OF name_key ON jobs BEGIN {_DROP_NAMES} {_ADD_NAMES} END",
}
#: Made once the jobs table has its name_key column (an older version's file gets it
#: added first), in the transaction that adds it.
STATEMENTS = [
    "CREATE TABLE IF NOT EXISTS job_names (prefix TEXT NOT NULL, created_at REAL NOT NULL,"
    " id TEXT NOT NULL, PRIMARY KEY (prefix, created_at, id)) WITHOUT ROWID",
    *(f"CREATE INDEX IF NOT EXISTS {name} ON jobs {on}" for name, on in LISTING_INDEXES.items()),
    *(f"CREATE TRIGGER IF NOT EXISTS {name} {body}" for name, body in TRIGGERS.items()),
]


def fill_name_keys(connection: sqlite3.Connection) -> None:
    """Give the jobs an older version made their name key (the trigger then indexes
    their prefixes); inside the caller's transaction."""
    rows = connection.execute("SELECT id, filename FROM jobs WHERE name_key IS NULL").fetchall()
    connection.executemany(
        "UPDATE jobs SET name_key = ? WHERE id = ?",
        [(name_key(row["filename"]), row["id"]) for row in rows],
    )


#: Where each kind of index is read: the table (and the index, named so that SQLite
#: walks it and no other) and the condition its key sets.
_DRIVING = {
    "all": ("jobs AS j INDEXED BY jobs_list_all", "1"),
    "state": ("jobs AS j INDEXED BY jobs_list_state", "j.state = ?"),
    "backend": ("jobs AS j INDEXED BY jobs_list_backend", "j.backend = ?"),
    "uploader": ("jobs AS j INDEXED BY jobs_list_uploader", "j.uploader_label = ?"),
    "link": ("jobs AS j INDEXED BY jobs_list_link", "j.upload_link = ?"),
    "removed": ("jobs AS j INDEXED BY jobs_list_removed", "j.removed_at IS NOT NULL"),
    "name": ("job_names AS d JOIN jobs AS j ON j.id = d.id", "d.prefix = ?"),
}
_SELECTED = ", ".join(f"j.{name}" for name in JOB_FIELDS)


def _filter(query: JobQuery) -> tuple[str, list[Stored]]:
    """The condition every listed job meets besides the index's key, and its values."""
    terms, values = ["1"], []
    if query.states:
        states = sorted(state.value for state in query.states)
        terms.append(f"j.state IN ({', '.join('?' * len(states))})")
        values += states
    for column, wanted in (
        ("backend", query.backend),
        ("uploader_label", query.uploader_label),
        ("upload_link", query.upload_link),
    ):
        if wanted is not None:
            terms.append(f"j.{column} = ?")
            values.append(wanted)
    key = query.name_key
    if key:
        terms.append("substr(j.name_key, 1, ?) = ?")
        values += [len(key), key]
    if query.removed is not None:
        terms.append(f"j.removed_at IS {'NOT ' if query.removed else ''}NULL")
    return " AND ".join(terms), values


def _hit(row: sqlite3.Row) -> Job | None:
    return job_from_stored(dict(row)) if row["hit"] else None


class _Reads(Protocol):
    def _rows(self, sql: str, params: Iterable[Stored] = ()) -> list[sqlite3.Row]: ...


class SqliteListing:
    """JobListing for SqliteJobStore (a mixin: it reads through the store's ``_rows``)."""

    def list_jobs(self: _Reads, query: JobQuery) -> JobPage:
        kind, key = driving_index(query)
        table, keyed = _DRIVING[kind]
        order = "d" if kind == "name" else "j"
        hit, hit_values = _filter(query)
        bounds, bound_values = [keyed], [key] if "?" in keyed else []
        if query.created_from is not None:
            bounds.append(f"{order}.created_at >= ?")
            bound_values.append(query.created_from)
        if query.created_before is not None:
            bounds.append(f"{order}.created_at < ?")
            bound_values.append(query.created_before)

        def read(position: Cursor | None, size: int) -> list[Entry]:
            after, after_values = "1", []
            if position is not None:
                after = f"({order}.created_at, {order}.id) < (?, ?)"
                after_values = [position.created_at, position.id]
            rows = self._rows(
                f"SELECT {_SELECTED}, ({hit}) AS hit FROM {table}"  # noqa: S608 (no input)
                f" WHERE {' AND '.join(bounds)} AND {after}"
                f" ORDER BY {order}.created_at DESC, {order}.id DESC LIMIT ?",
                [*hit_values, *bound_values, *after_values, size],
            )
            return [(Cursor(row["created_at"], row["id"]), _hit(row)) for row in rows]

        return paginate(query, read)

    def totals(self: _Reads, now: float | None = None) -> Totals:
        day_start = today(now) * SECONDS_PER_DAY
        weighed = "SELECT state, count(*), total(coalesce(size, bytes_received)) FROM jobs"
        every = self._rows(f"{weighed} GROUP BY state")
        recent = self._rows(
            f"{weighed} WHERE created_at >= ? AND created_at < ? GROUP BY state",
            [day_start, day_start + SECONDS_PER_DAY],
        )

        def tallies(rows: list[sqlite3.Row]) -> dict[JobState, Tally]:
            counted = {JobState(row[0]): Tally(row[1], int(row[2])) for row in rows}
            return {state: counted.get(state, Tally()) for state in JobState}

        return Totals(all=tallies(every), today=tallies(recent))
