"""Listing and searching jobs for the owner's console, the same way in both stores.

A page is read newest first from one index, from where the cursor says (keyset
paging: a cursor is the last job's ``(created_at, id)``, never an offset), so reading
page 1,000 costs what page 1 does. The stores keep indexes ordered by ``created_at``
and keyed by one filter each: all jobs, one state, one backend, one uploader label, one
upload link, the removed ones. A query walks the index of its most selective filter
(``driving_index``) and checks the others on each job it meets. It meets at most
``SCAN_BUDGET`` jobs per page, so a page never costs more than that, however many jobs
there are; when a rare combination of filters leaves a page short, its ``next``
cursor says where to go on from.

Names are searched by prefix, without regard to case (``name_key``: Unicode NFC, then
casefolded), in an index ordered by name key. A prefix that at most
``NAME_MATCHES_SORTED`` names start with (``holiday 2025``, ``invoice-42``) is read
there whole, and its matches are sorted by time and paged (``after_cursor``): a rare
name is found at once however many jobs there are. A prefix that more names start
with (``img_``, ``scr``) is common enough to be met often in the time-ordered indexes,
so the query walks those and checks the name on each job. Redis also keeps a
time-ordered index per name's first characters (paimon/jobs/redis_listing.py), which a
short prefix is read from directly and a longer common one walks.

"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from paimon.jobs.model import Job, JobState

#: A name prefix that at most this many names start with is read from the name index
#: whole and sorted by time; one more common than that walks the time-ordered indexes.
NAME_MATCHES_SORTED = 4000
#: The most jobs one page holds, and how many it holds unless asked.
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
#: The most jobs one page looks at in its index before it answers (maybe short).
SCAN_BUDGET = 2000
SECONDS_PER_DAY = 86_400


def name_key(filename: str) -> str:
    """What a name is searched by: NFC, casefolded (``Été`` and ``été`` match)."""
    return unicodedata.normalize("NFC", filename).casefold()


def name_range(key: str) -> tuple[str, str]:
    """The keys a name starting with ``key`` lies between (upper bound excluded), as
    both stores compare text: by code point (UTF-8 bytes compare the same way)."""
    return key, key + "\U0010ffff"


#: A cursor's shape: a finite float as repr() writes it, then the id (job ids are
#: URL-safe base64). docs/openapi.yaml states the same pattern.
CURSOR = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?(e[+-]?[0-9]{1,2})?_[A-Za-z0-9_-]{1,64}", re.ASCII)


class BadCursor(ValueError):
    """A cursor this server did not hand out (or one garbled on the way)."""


@dataclass(frozen=True, order=True)
class Cursor:
    """Where a page ended: the last job's creation time and id. Opaque to clients."""

    created_at: float
    id: str

    def encode(self) -> str:
        """``<created_at>_<id>``: URL-safe as it is, and any text of that shape is a
        cursor (a page after it, maybe empty), so only garbage is refused."""
        return f"{self.created_at!r}_{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        if CURSOR.fullmatch(text) is None:
            raise BadCursor("not a cursor this server handed out")
        stamp, job_id = text.split("_", 1)
        return cls(float(stamp), job_id)


@dataclass(frozen=True)
class JobQuery:
    """Which jobs, newest first: every filter that is set must hold (None: any)."""

    states: frozenset[JobState] = frozenset()  # empty: any state
    backend: str | None = None
    uploader_label: str | None = None
    upload_link: str | None = None
    name: str | None = None  # names starting with this, in any case
    created_from: float | None = None  # created at or after
    created_before: float | None = None  # created before
    removed: bool | None = None  # the stored object removed (expired, used up), or not
    limit: int = DEFAULT_LIMIT
    after: Cursor | None = None  # the page after this cursor's

    @property
    def name_key(self) -> str | None:
        return name_key(self.name) if self.name else None

    @property
    def filtered(self) -> bool:
        """Whether any filter is set besides the dates (which every index applies)."""
        return bool(
            self.states
            or self.name
            or self.removed is not None
            or {self.backend, self.uploader_label, self.upload_link} != {None}
        )

    def matches(self, job: Job) -> bool:
        """Whether ``job`` meets every filter (the stores' indexes apply some for them;
        Redis's page script, paimon/jobs/redis_listing.py, checks the same in Lua)."""
        key = self.name_key
        return (
            (not self.states or job.state in self.states)
            and self.backend in (None, job.backend)
            and self.uploader_label in (None, job.uploader_label)
            and self.upload_link in (None, job.upload_link)
            and (not key or name_key(job.filename).startswith(key))
            and (self.created_from is None or job.created_at >= self.created_from)
            and (self.created_before is None or job.created_at < self.created_before)
            and (self.removed is None or self.removed == (job.removed_at is not None))
        )


def driving_index(query: JobQuery) -> tuple[str, str | None]:
    """The time-ordered index a query walks: the kind and its key. The most selective
    filter that has one, in this order: an upload link, an uploader, a single state,
    removed, a backend; else every job. (A rare name prefix is read from the name index
    instead: ``NAME_MATCHES_SORTED``.)"""
    if query.upload_link is not None:
        return "link", query.upload_link
    if query.uploader_label is not None:
        return "uploader", query.uploader_label
    if len(query.states) == 1:
        (state,) = query.states
        return "state", state.value
    if query.removed:
        return "removed", None
    if query.backend is not None:
        return "backend", query.backend
    return "all", None


def batch_sizes(limit: int) -> list[int]:
    """How many index entries each read of one page takes: one more than the page
    first (enough when nothing else filters), then four times as many, up to the
    budget."""
    sizes, size, total = [], limit + 1, 0
    while total < SCAN_BUDGET:
        size = min(size, SCAN_BUDGET - total)
        sizes.append(size)
        total += size
        size *= 4
    return sizes


@dataclass(frozen=True)
class JobPage:
    """One page: its jobs, newest first, and where the next one starts (None: the end)."""

    jobs: list[Job]
    next: Cursor | None


#: One entry of an index as a store reads it: where it stands, and its job when that
#: meets the query (None when it does not, or was deleted meanwhile).
Entry = tuple[Cursor, Job | None]


def after_cursor(matches: list[Cursor], query: JobQuery) -> list[Cursor]:
    """The jobs a rare name's matches name, newest first, within the query's dates."""
    return sorted(
        (
            match
            for match in matches
            if (query.created_from is None or match.created_at >= query.created_from)
            and (query.created_before is None or match.created_at < query.created_before)
        ),
        reverse=True,
    )


def sorted_reads(
    ordered: list[Cursor], fetch: Callable[[list[str]], dict[str, Job]], query: JobQuery
) -> Callable[[Cursor | None, int], list[Entry]]:
    """``paginate``'s ``read`` over jobs already in order (a rare name's matches):
    ``fetch`` gives the jobs of a list of ids (those still there)."""

    def read(position: Cursor | None, size: int) -> list[Entry]:
        start = (
            0
            if position is None
            else next((n for n, match in enumerate(ordered) if match < position), len(ordered))
        )
        batch = ordered[start : start + size]
        jobs = fetch([match.id for match in batch])
        return [(match, matching(jobs.get(match.id), query)) for match in batch]

    return read


def matching(job: Job | None, query: JobQuery) -> Job | None:
    """The job, if it is there (not deleted meanwhile) and meets the query."""
    return job if job is not None and query.matches(job) else None


def paginate(query: JobQuery, read: Callable[[Cursor | None, int], list[Entry]]) -> JobPage:
    """A page, from a store's ``read(after, count)``: the next ``count`` entries of the
    query's driving index after the cursor ``after`` (None: from the newest), in order.
    Reads grow (``batch_sizes``) until the page is full, the index ends, or the budget
    is spent."""
    found: list[Job] = []
    position = query.after
    for size in batch_sizes(query.limit):
        entries = read(position, size)
        for position, job in entries:  # noqa: B007 (the last one read is where to go on)
            if job is None:
                continue
            found.append(job)
            if len(found) > query.limit:
                last = found[query.limit - 1]
                return JobPage(found[: query.limit], Cursor(last.created_at, last.id))
        if len(entries) < size:  # the index has no more
            return JobPage(found, None)
    return JobPage(found, position)  # the budget is spent: the next page goes on from here


@dataclass(frozen=True)
class Tally:
    uploads: int = 0
    bytes: int = 0


def job_bytes(job: Job) -> int:
    """What a job weighs in the totals: its size once known, else what has arrived."""
    return job.size if job.size is not None else job.bytes_received


def utc_day(timestamp: float) -> int:
    """The UTC day a time falls on, as days since 1970-01-01."""
    return math.floor(timestamp / SECONDS_PER_DAY)


@dataclass(frozen=True)
class Totals:
    """Uploads and bytes by state: all the store holds, and those created today (UTC)."""

    all: dict[JobState, Tally] = field(default_factory=dict)
    today: dict[JobState, Tally] = field(default_factory=dict)


class JobListing(Protocol):
    """What a job store offers the owner's console (both stores implement it)."""

    def list_jobs(self, query: JobQuery) -> JobPage:
        """The page of jobs ``query`` asks for, newest first (``created_at``, then id,
        descending). At most ``query.limit`` jobs; fewer, with a ``next`` cursor, when
        ``SCAN_BUDGET`` entries of the index were looked at first."""
        ...

    def totals(self, now: float | None = None) -> Totals:
        """Uploads and bytes (``job_bytes``) by state, every state present: of all jobs,
        and of those created on the UTC day of ``now`` (default: the present)."""
        ...


def today(now: float | None) -> int:
    return utc_day(time.time() if now is None else now)
