"""The SQLite store's listing (paimon/jobs/listing.py): its indexes and its page reads.

Each time-ordered index of ``driving_index`` is a B-tree ordered by ``(created_at, id)``
after its key, so a page is one range read from the cursor on, never a sort. Names are
searched in ``jobs_list_name``, ordered by ``name_key`` (an internal column of ``jobs``,
not a Job field: the name's key, written with the job by the same INSERT).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any, Protocol

from paimon.jobs import listing
from paimon.jobs.codec import JOB_FIELDS, Stored, job_from_stored
from paimon.jobs.listing import (
    SECONDS_PER_DAY,
    Cursor,
    Entry,
    JobPage,
    JobQuery,
    Tally,
    Totals,
    after_cursor,
    driving_index,
    name_key,
    name_range,
    paginate,
    sorted_reads,
    today,
)
from paimon.jobs.model import Job, JobState

#: The jobs table's one column that is no Job field: the name's key, for search.
NAME_KEY_COLUMN = "name_key"

LISTING_INDEXES = {
    # name_key too, so a common name is checked in the index while walking it
    "jobs_list_all": "(created_at, id, name_key)",
    "jobs_list_state": "(state, created_at, id, name_key)",
    "jobs_list_backend": "(backend, created_at, id)",
    "jobs_list_uploader": "(uploader_label, created_at, id) WHERE uploader_label IS NOT NULL",
    "jobs_list_link": "(upload_link, created_at, id) WHERE upload_link IS NOT NULL",
    "jobs_list_removed": "(created_at, id) WHERE removed_at IS NOT NULL",
    "jobs_list_name": "(name_key, created_at, id)",
}
#: Made once the jobs table has its name_key column (an older version's file gets it
#: added first), in the transaction that adds it.
STATEMENTS = [f"CREATE INDEX IF NOT EXISTS {n} ON jobs {on}" for n, on in LISTING_INDEXES.items()]


def fill_name_keys(connection: sqlite3.Connection) -> None:
    """Give the jobs an older version made their name key; inside the caller's
    transaction."""
    rows = connection.execute("SELECT id, filename FROM jobs WHERE name_key IS NULL").fetchall()
    connection.executemany(
        "UPDATE jobs SET name_key = ? WHERE id = ?",
        [(name_key(row["filename"]), row["id"]) for row in rows],
    )


#: Where each kind of index is read: the index (named, so that SQLite walks it and no
#: other) and the condition its key sets.
_DRIVING = {
    "all": ("jobs_list_all", "1"),
    "state": ("jobs_list_state", "state = ?"),
    "backend": ("jobs_list_backend", "backend = ?"),
    "uploader": ("jobs_list_uploader", "uploader_label = ?"),
    "link": ("jobs_list_link", "upload_link = ?"),
    "removed": ("jobs_list_removed", "removed_at IS NOT NULL"),
}
_SELECTED = ", ".join(JOB_FIELDS)


def _filter(query: JobQuery) -> tuple[str, list[Stored]]:
    """The condition every listed job meets besides the index's key, and its values."""
    terms, values = ["1"], []
    if query.states:
        states = sorted(state.value for state in query.states)
        terms.append(f"state IN ({', '.join('?' * len(states))})")
        values += states
    for column, wanted in (
        ("backend", query.backend),
        ("uploader_label", query.uploader_label),
        ("upload_link", query.upload_link),
    ):
        if wanted is not None:
            terms.append(f"{column} = ?")
            values.append(wanted)
    key = query.name_key
    if key:
        terms.append("substr(name_key, 1, ?) = ?")
        values += [len(key), key]
    if query.removed is not None:
        terms.append(f"removed_at IS {'NOT ' if query.removed else ''}NULL")
    return " AND ".join(terms), values


class _Reads(Protocol):
    def _rows(self, sql: str, params: Iterable[Stored] = ()) -> list[sqlite3.Row]: ...


class SqliteListing:
    """JobListing for SqliteJobStore (a mixin: it reads through the store's ``_rows``,
    hence ``self: Any`` where it also calls its own methods)."""

    def list_jobs(self: Any, query: JobQuery) -> JobPage:
        key = query.name_key
        if key:
            low, high = name_range(key)
            named = "FROM jobs INDEXED BY jobs_list_name WHERE name_key >= ? AND name_key < ?"
            (count,) = self._rows(
                f"SELECT count(*) FROM (SELECT 1 {named} LIMIT ?)",  # noqa: S608 (no input)
                [low, high, listing.NAME_MATCHES_SORTED + 1],
            )[0]
            if count <= listing.NAME_MATCHES_SORTED:  # a rare name: its matches, sorted
                rows = self._rows(f"SELECT created_at, id {named}", [low, high])
                matches = [Cursor(row["created_at"], row["id"]) for row in rows]
                ordered = after_cursor(matches, query)
                return paginate(query, sorted_reads(ordered, self._jobs_by_id, query))
        kind, indexed = driving_index(query)
        index, keyed = _DRIVING[kind]
        hit, hit_values = _filter(query)
        bounds, bound_values = [keyed], [indexed] if "?" in keyed else []
        if query.created_from is not None:
            bounds.append("created_at >= ?")
            bound_values.append(query.created_from)
        if query.created_before is not None:
            bounds.append("created_at < ?")
            bound_values.append(query.created_before)

        def read(position: Cursor | None, size: int) -> list[Entry]:
            after, after_values = "1", []
            if position is not None:
                after = "(created_at, id) < (?, ?)"
                after_values = [position.created_at, position.id]
            rows = self._rows(  # the index's entries, each with whether it is a hit
                f"SELECT created_at, id, ({hit}) AS hit FROM jobs INDEXED BY {index}"  # noqa: S608
                f" WHERE {' AND '.join(bounds)} AND {after}"
                " ORDER BY created_at DESC, id DESC LIMIT ?",
                [*hit_values, *bound_values, *after_values, size],
            )
            jobs = self._jobs_by_id([row["id"] for row in rows if row["hit"]])
            return [(Cursor(row["created_at"], row["id"]), jobs.get(row["id"])) for row in rows]

        return paginate(query, read)

    def _jobs_by_id(self: _Reads, job_ids: list[str]) -> dict[str, Job]:
        if not job_ids:
            return {}
        rows = self._rows(
            f"SELECT {_SELECTED} FROM jobs WHERE id IN ({', '.join('?' * len(job_ids))})",  # noqa: S608
            job_ids,
        )
        return {row["id"]: job_from_stored(dict(row)) for row in rows}

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
