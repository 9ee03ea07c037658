"""The listing contract (paimon/jobs/listing.py), run against SQLite and a real Redis:
newest first, cursor paging that sees every job once, each filter, name search by
prefix in any case, totals, and pages that stay within their budget."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from paimon.jobs import listing
from paimon.jobs.listing import (
    SCAN_BUDGET,
    BadCursor,
    Cursor,
    JobListing,
    JobQuery,
    Tally,
    name_key,
)
from paimon.jobs.model import Job, JobState
from paimon.jobs.store import JobStore
from tests.support.jobstores import make_job

DAY = 86_400.0
NOW = 1_800_000_000.0  # a fixed "now": today starts at the UTC midnight before it
TODAY = NOW - NOW % DAY


class Store(JobStore, JobListing):
    """What these tests use of a store."""


def every_page(store: Store, query: JobQuery) -> Iterator[list[Job]]:
    """Each page of ``query``, following ``next`` to the end."""
    while True:
        page = store.list_jobs(query)
        yield page.jobs
        if page.next is None:
            return
        query = JobQuery(**{**vars(query), "after": page.next})


def listed(store: Store, **filters: object) -> list[str]:
    """The ids ``filters`` list, every page followed, newest first."""
    query = JobQuery(limit=7, **filters)  # type: ignore[arg-type]
    return [job.id for jobs in every_page(store, query) for job in jobs]


def newest_first(jobs: list[Job]) -> list[str]:
    return [job.id for job in sorted(jobs, key=lambda j: (j.created_at, j.id), reverse=True)]


NAMES = ["Holiday photo.jpg", "holiday.MOV", "HOLIDAYS 2026.zip", "Été.png", "report.pdf", "a"]


@pytest.fixture
def sample(store: Store) -> list[Job]:
    """60 jobs in every state, two backends, two uploaders and links, a few removed,
    spread over three days, some created at the very same moment."""
    rng = random.Random(33)
    jobs = []
    for n in range(60):
        state = list(JobState)[n % len(JobState)]
        job = make_job(
            filename=f"{NAMES[n % len(NAMES)]}" if n % 4 else f"{n} {NAMES[n % len(NAMES)]}",
            backend="mega" if n % 3 == 0 else "local",
            state=state,
            size=n * 1000 if state is not JobState.RECEIVING else None,
            bytes_received=n * 10,
            uploader_label=["ci", "phone", None][n % 3],
            upload_link="link-a" if n % 5 == 0 else ("link-b" if n % 7 == 0 else None),
            removed_at=NOW if n % 11 == 0 and state is JobState.DONE else None,
            created_at=TODAY - DAY + (n // 3) * 7200.0,  # three at a time: ties
        )
        jobs.append(job)
    for job in rng.sample(jobs, len(jobs)):  # created in no particular order
        store.create(job)
    return jobs


def test_a_page_of_an_empty_store(store: Store) -> None:
    page = store.list_jobs(JobQuery())
    assert (page.jobs, page.next) == ([], None)


def test_pages_list_every_job_once_newest_first(store: Store, sample: list[Job]) -> None:
    assert listed(store) == newest_first(sample)
    first = store.list_jobs(JobQuery(limit=10))
    assert len(first.jobs) == 10 and first.next is not None
    assert first.next == Cursor(first.jobs[-1].created_at, first.jobs[-1].id)
    assert (
        store.list_jobs(JobQuery(limit=10, after=first.next)).jobs[0].id == newest_first(sample)[10]
    )


def test_the_last_page_has_no_next(store: Store, sample: list[Job]) -> None:
    page = store.list_jobs(JobQuery(limit=len(sample)))
    assert len(page.jobs) == len(sample) and page.next is None
    assert store.list_jobs(JobQuery(limit=len(sample) - 1)).next is not None


@pytest.mark.parametrize(
    "filters",
    [
        {"states": frozenset({JobState.FAILED})},
        {"states": frozenset({JobState.DONE, JobState.QUEUED})},
        {"backend": "mega"},
        {"uploader_label": "phone"},
        {"upload_link": "link-a"},
        {"upload_link": "link-b", "states": frozenset({JobState.DONE})},
        {"removed": True},
        {"removed": False, "backend": "local"},
        {"created_from": TODAY},
        {"created_from": TODAY - DAY / 2, "created_before": TODAY + 3600},
        {"uploader_label": "ci", "created_before": TODAY},
        {"uploader_label": "nobody"},
    ],
)
def test_each_filter(store: Store, sample: list[Job], filters: dict) -> None:
    query = JobQuery(**filters)
    expected = newest_first([job for job in sample if query.matches(job)])
    assert expected or filters == {"uploader_label": "nobody"}
    assert listed(store, **filters) == expected


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("h", 20),  # one character: no index of its own
        ("ho", 20),
        ("HOL", 20),
        ("holiday", 20),
        ("holiday ", 5),
        ("holiday photo.jp", 5),  # exactly an indexed length
        ("Holiday photo.jpg", 5),  # longer than every indexed prefix
        ("holiday photo.jpgs", 0),
        ("été", 10),
        ("ÉTÉ.PNG", 10),
        ("1", 2),  # "12 ..." and "16 ..."
        ("12 Holiday", 1),
        ("a", 10),
        ("x", 0),
    ],
)
def test_names_are_searched_by_prefix_in_any_case(
    store: Store, sample: list[Job], name: str, count: int
) -> None:
    expected = [job for job in sample if name_key(job.filename).startswith(name_key(name))]
    assert len(expected) == count
    assert listed(store, name=name) == newest_first(expected)


@pytest.mark.parametrize("name", ["h", "holiday", "Holiday photo.jpg", "été", "x"])
def test_a_common_name_walks_the_time_ordered_indexes(
    store: Store, sample: list[Job], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prefix more names start with than NAME_MATCHES_SORTED is found by walking the
    time-ordered indexes and checking each name: the same pages, page for page."""
    monkeypatch.setattr(listing, "NAME_MATCHES_SORTED", 3)
    expected = [job for job in sample if name_key(job.filename).startswith(name_key(name))]
    assert listed(store, name=name) == newest_first(expected)
    assert listed(store, name=name, states=frozenset({JobState.DONE})) == newest_first(
        [job for job in expected if job.state is JobState.DONE]
    )


def test_search_combines_with_filters(store: Store, sample: list[Job]) -> None:
    query = JobQuery(name="holiday", backend="local", states=frozenset({JobState.DONE}))
    expected = newest_first([job for job in sample if query.matches(job)])
    assert expected
    assert listed(store, name="holiday", backend="local", states=query.states) == expected


def test_unicode_names_are_normalised(store: Store) -> None:
    decomposed = make_job(filename="E\u0301te\u0301.txt")  # É as E + a combining accent
    store.create(decomposed)
    assert listed(store, name="été") == [decomposed.id]
    assert listed(store, name="Straße") == []
    german = make_job(filename="STRASSE.txt")
    store.create(german)
    assert listed(store, name="straße") == [german.id]  # casefolded: ß is ss


def test_updates_move_jobs_between_indexes(store: Store, sample: list[Job]) -> None:
    job = next(j for j in sample if j.state is JobState.QUEUED)
    failed = frozenset({JobState.FAILED})
    assert job.id not in listed(store, states=failed)
    store.update(job.id, state=JobState.FAILED)
    assert job.id in listed(store, states=failed)
    assert job.id not in listed(store, states=frozenset({JobState.QUEUED}))
    store.update(job.id, state=JobState.DONE, removed_at=NOW)
    assert job.id in listed(store, removed=True)
    store.update(job.id, removed_at=None)
    assert job.id not in listed(store, removed=True)


def test_deleted_jobs_leave_every_index(store: Store, sample: list[Job]) -> None:
    gone = sample[::2]
    for job in gone:
        store.delete(job.id)
    kept = [job for job in sample if job not in gone]
    assert listed(store) == newest_first(kept)
    assert listed(store, name="holiday") == newest_first(
        [job for job in kept if name_key(job.filename).startswith("holiday")]
    )
    assert listed(store, upload_link="link-a") == newest_first(
        [job for job in kept if job.upload_link == "link-a"]
    )


def test_the_fields_indexes_are_keyed_by_never_change(store: Store) -> None:
    job = make_job()
    store.create(job)
    for changes in ({"filename": "other"}, {"created_at": 1.0}, {"backend": "mega"}):
        with pytest.raises(TypeError, match="cannot change"):
            store.update(job.id, **changes)
    assert store.get(job.id) == job


def test_a_rare_filter_leaves_pages_short_within_the_budget(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page looks at SCAN_BUDGET index entries at most: with a rare combination, it
    answers short (maybe empty) with a ``next``, and following ``next`` finds them all."""
    monkeypatch.setattr(listing, "SCAN_BUDGET", 25)
    jobs = [
        make_job(created_at=float(n), backend="mega" if n % 40 == 0 else "local")
        for n in range(120)
    ]
    for job in jobs:
        store.create(job)
    query = JobQuery(limit=5, backend="mega", states=frozenset({JobState.RECEIVING}))
    first = store.list_jobs(query)  # the index walked: receiving, 120 entries
    assert len(first.jobs) <= 1 and first.next is not None
    pages = list(every_page(store, query))
    assert len(pages) >= 120 // 25
    assert [job.id for page in pages for job in page] == newest_first(
        [job for job in jobs if job.backend == "mega"]
    )
    assert SCAN_BUDGET >= 1000  # the real budget: a page of 50 is never short without filters


def test_totals_by_state_all_and_today(store: Store, sample: list[Job]) -> None:
    totals = store.totals(NOW)
    for state in JobState:
        of_state = [job for job in sample if job.state is state]
        today = [job for job in of_state if job.created_at >= TODAY]
        assert totals.all[state] == Tally(len(of_state), sum(map(listing.job_bytes, of_state)))
        assert totals.today[state] == Tally(len(today), sum(map(listing.job_bytes, today)))
    assert store.totals(NOW - DAY).today != totals.today  # yesterday's


def test_totals_follow_progress_state_changes_and_deletes(store: Store) -> None:
    job = make_job(created_at=NOW)
    store.create(job)
    assert store.totals(NOW).all[JobState.RECEIVING] == Tally(1, 0)
    store.update(job.id, bytes_received=500)
    assert store.totals(NOW).all[JobState.RECEIVING] == Tally(1, 500)
    store.update(job.id, state=JobState.QUEUED, size=800, bytes_received=800)
    totals = store.totals(NOW)
    assert (totals.all[JobState.RECEIVING], totals.all[JobState.QUEUED]) == (Tally(), Tally(1, 800))
    assert totals.today[JobState.QUEUED] == Tally(1, 800)
    store.delete(job.id)
    assert store.totals(NOW).all == dict.fromkeys(JobState, Tally())


def test_an_empty_store_totals_zero(store: Store) -> None:
    totals = store.totals()
    assert totals.all == totals.today == dict.fromkeys(JobState, Tally())


def test_cursors_round_trip_and_refuse_garbage() -> None:
    cursor = Cursor(0.1 + 0.2, "abc_-DEF")
    assert Cursor.decode(cursor.encode()) == cursor
    assert cursor.encode() == "0.30000000000000004_abc_-DEF"
    for garbage in ("", "%%%", "bm90IGEgY3Vyc29y", "nan_x", "1e999_x", "1.5_", "1.5_a/b", "-1_x"):
        with pytest.raises(BadCursor):
            Cursor.decode(garbage)
