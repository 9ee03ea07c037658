"""Listing and searching jobs for the owner's console, the same way in both stores.

A page is read newest first from one index, from where the cursor says (keyset
paging: a cursor is the last job's ``(created_at, id)``, never an offset), so reading
page 1,000 costs what page 1 does. Every index the stores keep is ordered by
``created_at`` and keyed by one filter: all jobs, one state, one backend, one uploader
label, one upload link, the removed ones, or one name prefix. A query walks the index
of its most selective filter (``driving_index``) and checks the others on each job it
meets. It meets at most ``SCAN_BUDGET`` jobs per page, so a page never costs more than
that, however many jobs there are; when a rare combination of filters leaves a page
short, its ``next`` cursor says where to go on from.

Names are searched by prefix, without regard to case (``name_key``: Unicode NFC, then
casefolded). The stores index each name's first 2, 4, 8 and 16 characters
(``PREFIX_LENGTHS``); a query walks the index of its longest indexed prefix and checks
the rest of it on each name, so ``holi`` walks only names starting with ``holi`` and
``holiday`` only those too.
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

#: Name prefixes the stores index, in characters of the name's key.
PREFIX_LENGTHS = (2, 4, 8, 16)
#: The most jobs one page holds, and how many it holds unless asked.
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
#: The most jobs one page looks at in its index before it answers (maybe short).
SCAN_BUDGET = 2000
SECONDS_PER_DAY = 86_400


def name_key(filename: str) -> str:
    """What a name is searched by: NFC, casefolded (``Été`` and ``été`` match)."""
    return unicodedata.normalize("NFC", filename).casefold()


def name_prefixes(filename: str) -> list[str]:
    """The prefixes of a name's key the stores index it under."""
    key = name_key(filename)
    return [key[:length] for length in PREFIX_LENGTHS if len(key) >= length]


def indexed_prefix(key: str) -> str | None:
    """The longest prefix of a query's key that the stores index, if any."""
    lengths = [length for length in PREFIX_LENGTHS if len(key) >= length]
    return key[: lengths[-1]] if lengths else None


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

    def matches(self, job: Job) -> bool:
        """Whether ``job`` meets every filter (the stores' indexes apply some for them)."""
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
    """The index a query walks: the kind and its key. The most selective filter that
    has one, in this order: a name (two characters or more), an upload link, an
    uploader, a single state, removed, a backend; else every job."""
    prefix = indexed_prefix(query.name_key or "")
    if prefix is not None:
        return "name", prefix
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
