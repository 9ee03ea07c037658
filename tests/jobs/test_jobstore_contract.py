"""The JobStore contract (paimon/jobs/store.py), run against SQLite and a real Redis."""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from paimon.jobs.model import FINISHED, Job, JobState
from paimon.jobs.store import Fence, JobNotFound, JobStore, LeaseLost, StateConflict
from tests.support.jobstores import make_job

TTL = 60.0


def every_field_set() -> Job:
    """A job where no field has its default, with values that are easy to mangle."""
    return make_job(
        filename="naïve café ✓.tar.gz",
        backend="mega",
        state=JobState.FAILED,
        size=5 * 1024**3 + 1,
        sha256="ab" * 32,
        bytes_received=123_456_789,
        bytes_stored=42,
        attempts=3,
        resumed_from=8 * 1024**2,
        link="https://mega.nz/file/abc#key",
        storage_key="Paimon/report.pdf",
        error="MEGA said: over quota",
        error_code="storage_full",
        retryable=False,
        next_retry_at=1_700_000_000.5,
        expires_at=1_700_086_400.25,
        max_downloads=5,
        downloads=2,
        removed_at=1_700_000_002.5,
        removed_because="expired",
        spool_path="/data/spool/abc.part",
        transfer_state="gAAAAABk-sealed==",
        delete_digest="cd" * 32,
        delete_handoff="gAAAAABk-handed-off==",
        handoff_taken_at=1_700_000_003.75,
        uploader="token:0123456789abcdef",
        uploader_label="ci-runner",
        upload_link="link-8d2f",
        folder="From clients",
        stored_at=1_700_000_001.75,
        lease_owner="host-1:1234:7",
        lease_expires=1_700_000_000.123_456_7,
        lease_token=7,
        created_at=0.1 + 0.2,  # 0.30000000000000004: must not come back as 0.3
        updated_at=1_700_000_001.000_001,
    )


# --- create / get ---------------------------------------------------------------------


def test_every_field_round_trips_exactly(store: JobStore) -> None:
    job = every_field_set()
    unset = [
        f.name
        for f in dataclasses.fields(Job)
        if f.default is not dataclasses.MISSING and getattr(job, f.name) == f.default
    ]
    assert unset == [], f"every_field_set() must set these too: {unset}"
    store.create(job)
    loaded = store.get(job.id)
    assert loaded == job
    assert type(loaded.state) is JobState
    assert loaded.retryable is False
    assert loaded.created_at == 0.1 + 0.2


def test_defaults_and_nones_round_trip(store: JobStore) -> None:
    job = make_job()
    store.create(job)
    loaded = store.get(job.id)
    assert loaded == job
    assert loaded.size is None and loaded.retryable is None and loaded.lease_owner is None
    assert loaded.state is JobState.RECEIVING and loaded.lease_expires == 0.0


def test_true_and_zero_round_trip(store: JobStore) -> None:
    job = make_job(retryable=True, size=0, created_at=0.0, updated_at=0.0)
    store.create(job)
    assert store.get(job.id) == job


def test_get_unknown_job_is_none(store: JobStore) -> None:
    assert store.get("no-such-job") is None


def test_create_refuses_an_existing_id(store: JobStore) -> None:
    job = make_job(filename="first")
    store.create(job)
    with pytest.raises(ValueError, match="exists"):
        store.create(make_job(id=job.id, filename="second"))
    assert store.get(job.id).filename == "first"


def test_create_refuses_a_wrong_type(store: JobStore) -> None:
    with pytest.raises(TypeError, match="size"):
        store.create(make_job(size="big"))


# --- update ---------------------------------------------------------------------------


def test_update_changes_fields_and_stamps_updated_at(store: JobStore) -> None:
    job = make_job(updated_at=1.0)
    store.create(job)
    before = time.time()
    updated = store.update(job.id, state=JobState.QUEUED, bytes_received=10, size=10)
    assert (updated.state, updated.bytes_received, updated.size) == (JobState.QUEUED, 10, 10)
    assert before <= updated.updated_at <= time.time()
    assert updated.filename == job.filename and updated.created_at == job.created_at
    assert store.get(job.id) == updated


def test_update_can_clear_a_field_to_none(store: JobStore) -> None:
    job = every_field_set()
    store.create(job)
    updated = store.update(job.id, error=None, retryable=None, link=None)
    assert (updated.error, updated.retryable, updated.link) == (None, None, None)
    assert store.get(job.id) == updated


def test_update_accepts_a_state_as_text(store: JobStore) -> None:
    job = make_job()
    store.create(job)
    assert store.update(job.id, state="done").state is JobState.DONE


def test_update_keeps_an_explicit_updated_at(store: JobStore) -> None:
    job = make_job()
    store.create(job)
    assert store.update(job.id, updated_at=12.5).updated_at == 12.5


def test_update_with_expect_matching(store: JobStore) -> None:
    job = make_job(state=JobState.QUEUED)
    store.create(job)
    updated = store.update(
        job.id, expect={JobState.QUEUED, JobState.RECEIVING}, state=JobState.TRANSFERRING
    )
    assert updated.state is JobState.TRANSFERRING


def test_update_with_expect_not_matching_changes_nothing(store: JobStore) -> None:
    job = make_job(state=JobState.DONE, link="https://example.test/f")
    store.create(job)
    with pytest.raises(StateConflict, match="done"):
        store.update(job.id, expect={JobState.QUEUED}, state=JobState.FAILED, link=None)
    assert store.get(job.id) == job


def test_update_with_empty_expect_always_conflicts(store: JobStore) -> None:
    job = make_job()
    store.create(job)
    with pytest.raises(StateConflict):
        store.update(job.id, expect=(), attempts=1)
    assert store.get(job.id).attempts == 0


@pytest.mark.parametrize("expect", [None, {JobState.QUEUED}])
def test_update_unknown_job_is_not_found(store: JobStore, expect: set | None) -> None:
    with pytest.raises(JobNotFound):
        store.update("no-such-job", expect=expect, attempts=1)
    assert store.get("no-such-job") is None  # and nothing was created on the way


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"colour": "red"}, TypeError),
        ({"id": "other"}, TypeError),
        ({"attempts": "3"}, TypeError),
        ({"attempts": True}, TypeError),
        ({"filename": None}, TypeError),
        ({"state": "paused"}, ValueError),
    ],
)
def test_update_refuses_bad_changes(store: JobStore, changes: dict, error: type) -> None:
    job = make_job()
    store.create(job)
    with pytest.raises(error):
        store.update(job.id, **changes)
    assert store.get(job.id) == job


# --- counts ---------------------------------------------------------------------------


def test_counts_of_an_empty_store_are_all_zero(store: JobStore) -> None:
    assert store.counts() == dict.fromkeys(JobState, 0)


def test_counts_follow_creates_updates_and_deletes(store: JobStore) -> None:
    jobs = [make_job(state=state) for state in (JobState.QUEUED, JobState.QUEUED, JobState.DONE)]
    for job in jobs:
        store.create(job)
    expected = dict.fromkeys(JobState, 0) | {JobState.QUEUED: 2, JobState.DONE: 1}
    assert store.counts() == expected
    store.update(jobs[0].id, state=JobState.TRANSFERRING)
    store.update(jobs[1].id, attempts=1)  # no state change: counts stay
    store.delete(jobs[2].id)
    expected = dict.fromkeys(JobState, 0) | {JobState.QUEUED: 1, JobState.TRANSFERRING: 1}
    assert store.counts() == expected


# --- leases ---------------------------------------------------------------------------


def test_acquire_a_free_lease(store: JobStore) -> None:
    job = make_job(state=JobState.QUEUED)
    store.create(job)
    before = time.time()
    assert store.acquire_lease(job.id, "worker-a", TTL)
    leased = store.get(job.id)
    assert leased.lease_owner == "worker-a"
    assert before + TTL <= leased.lease_expires <= time.time() + TTL


def test_acquire_while_receiving(store: JobStore) -> None:
    job = make_job(state=JobState.RECEIVING)
    store.create(job)
    assert store.acquire_lease(job.id, "worker-a", TTL)


def test_acquire_refused_while_another_holds_it(store: JobStore) -> None:
    job = make_job(state=JobState.TRANSFERRING)
    store.create(job)
    assert store.acquire_lease(job.id, "worker-a", TTL)
    held = store.get(job.id)
    assert not store.acquire_lease(job.id, "worker-b", TTL)
    assert store.get(job.id) == held


def test_acquire_an_expired_lease(store: JobStore) -> None:
    job = make_job(state=JobState.TRANSFERRING, lease_owner="dead", lease_expires=time.time() - 1)
    store.create(job)
    assert store.acquire_lease(job.id, "worker-b", TTL)
    assert store.get(job.id).lease_owner == "worker-b"


def test_acquire_again_by_the_owner_extends_it(store: JobStore) -> None:
    job = make_job(state=JobState.QUEUED)
    store.create(job)
    assert store.acquire_lease(job.id, "worker-a", 5)
    first = store.get(job.id).lease_expires
    assert store.acquire_lease(job.id, "worker-a", TTL)
    assert store.get(job.id).lease_expires > first + TTL - 5 - 1


@pytest.mark.parametrize("state", sorted(FINISHED))
def test_acquire_refused_on_a_finished_job(store: JobStore, state: JobState) -> None:
    job = make_job(state=state)
    store.create(job)
    assert not store.acquire_lease(job.id, "worker-a", TTL)
    assert store.get(job.id).lease_owner is None


def test_acquire_refused_once_the_job_finishes(store: JobStore) -> None:
    job = make_job(state=JobState.TRANSFERRING)
    store.create(job)
    store.update(job.id, state=JobState.DONE)
    assert not store.acquire_lease(job.id, "worker-a", TTL)


def test_acquire_unknown_job_is_false(store: JobStore) -> None:
    assert not store.acquire_lease("no-such-job", "worker-a", TTL)
    assert store.get("no-such-job") is None


def test_renew_by_the_holder(store: JobStore) -> None:
    job = make_job(state=JobState.TRANSFERRING)
    store.create(job)
    assert store.acquire_lease(job.id, "worker-a", 1)
    assert store.renew_lease(job.id, "worker-a", TTL)
    assert store.get(job.id).lease_expires >= time.time() + TTL - 5


def test_renew_refused_to_others(store: JobStore) -> None:
    job = make_job(state=JobState.TRANSFERRING)
    store.create(job)
    assert not store.renew_lease(job.id, "worker-a", TTL)  # nobody holds it
    assert store.acquire_lease(job.id, "worker-a", TTL)
    held = store.get(job.id)
    assert not store.renew_lease(job.id, "worker-b", TTL)
    assert store.get(job.id) == held


def test_renew_after_the_lease_expired_and_was_taken(store: JobStore) -> None:
    job = make_job(state=JobState.TRANSFERRING)
    store.create(job)
    assert store.acquire_lease(job.id, "worker-a", -1)  # already expired
    assert store.acquire_lease(job.id, "worker-b", TTL)
    assert not store.renew_lease(job.id, "worker-a", TTL)
    assert store.get(job.id).lease_owner == "worker-b"


def test_renew_unknown_job_is_false(store: JobStore) -> None:
    assert not store.renew_lease("no-such-job", "worker-a", TTL)
    assert store.get("no-such-job") is None


def test_release_frees_the_job_for_others_at_once(store: JobStore) -> None:
    job = make_job(state=JobState.TRANSFERRING)
    store.create(job)
    assert store.acquire_lease(job.id, "worker-a", TTL)
    store.release_lease(job.id, "worker-a")
    released = store.get(job.id)
    assert (released.lease_owner, released.lease_expires) == (None, 0.0)
    assert store.resumable(time.time()) == [job.id]
    assert store.acquire_lease(job.id, "worker-b", TTL)


def test_release_by_another_owner_changes_nothing(store: JobStore) -> None:
    job = make_job(state=JobState.TRANSFERRING)
    store.create(job)
    assert store.acquire_lease(job.id, "worker-a", TTL)
    held = store.get(job.id)
    store.release_lease(job.id, "worker-b")
    assert store.get(job.id) == held


def test_release_unknown_job_is_silent(store: JobStore) -> None:
    store.release_lease("no-such-job", "worker-a")
    assert store.get("no-such-job") is None


def test_leases_do_not_touch_updated_at(store: JobStore) -> None:
    job = make_job(state=JobState.QUEUED, updated_at=5.0)
    store.create(job)
    assert store.acquire_lease(job.id, "worker-a", TTL)
    assert store.renew_lease(job.id, "worker-a", TTL)
    store.release_lease(job.id, "worker-a")
    assert store.get(job.id).updated_at == 5.0


# --- resumable ------------------------------------------------------------------------


def test_resumable_takes_queued_and_transferring_with_free_or_expired_leases(
    store: JobStore,
) -> None:
    now = 1_000_000.0
    jobs = {
        "queued, free": make_job(state=JobState.QUEUED, created_at=1),
        "transferring, expired": make_job(
            state=JobState.TRANSFERRING, lease_owner="dead", lease_expires=now - 1, created_at=2
        ),
        "queued, expires now": make_job(
            state=JobState.QUEUED, lease_owner="dead", lease_expires=now, created_at=3
        ),
        "transferring, held": make_job(
            state=JobState.TRANSFERRING, lease_owner="alive", lease_expires=now + 1
        ),
        "receiving, free": make_job(state=JobState.RECEIVING),
        "done": make_job(state=JobState.DONE),
        "failed": make_job(state=JobState.FAILED),
    }
    for job in jobs.values():
        store.create(job)
    expected = ["queued, free", "transferring, expired", "queued, expires now"]
    assert store.resumable(now) == [jobs[name].id for name in expected]  # oldest first
    later = store.resumable(now + 2)
    assert set(later) == {jobs[name].id for name in [*expected, "transferring, held"]}


def test_resumable_follows_state_changes(store: JobStore) -> None:
    job = make_job(state=JobState.RECEIVING)
    store.create(job)
    assert store.resumable(time.time()) == []
    store.update(job.id, state=JobState.QUEUED)
    assert store.resumable(time.time()) == [job.id]
    store.update(job.id, state=JobState.DONE)
    assert store.resumable(time.time()) == []


# --- purgeable_before ------------------------------------------------------------------


def test_purgeable_before_returns_old_finished_jobs(store: JobStore) -> None:
    old_done = make_job(state=JobState.DONE, updated_at=100.0)
    old_failed = make_job(state=JobState.FAILED, updated_at=50.0, retryable=True)
    recent_done = make_job(state=JobState.DONE, updated_at=300.0)
    at_cutoff = make_job(state=JobState.DONE, updated_at=200.0)
    old_queued = make_job(state=JobState.QUEUED, updated_at=10.0)
    for job in (old_done, old_failed, recent_done, at_cutoff, old_queued):
        store.create(job)
    assert store.purgeable_before(200.0) == [old_failed, old_done]  # oldest first


def test_purgeable_before_follows_updates(store: JobStore) -> None:
    retried = make_job(state=JobState.FAILED, updated_at=10.0)
    finished_now = make_job(state=JobState.TRANSFERRING, updated_at=10.0)
    touched = make_job(state=JobState.DONE, updated_at=10.0)
    for job in (retried, finished_now, touched):
        store.create(job)
    store.update(retried.id, state=JobState.QUEUED, updated_at=10.0)  # back to work
    store.update(finished_now.id, state=JobState.DONE, updated_at=10.0)
    store.update(touched.id, link="https://example.test/f")  # updated_at is now
    assert [job.id for job in store.purgeable_before(20.0)] == [finished_now.id]
    assert {job.id for job in store.purgeable_before(time.time() + 1)} == {
        finished_now.id,
        touched.id,
    }


def test_a_stored_upload_with_a_delete_link_is_never_purgeable(store: JobStore) -> None:
    """Its link must go on deleting for as long as the file is stored; a failed one with
    a link is forgotten as any failed job is."""
    kept = make_job(state=JobState.DONE, updated_at=10.0, delete_digest="ab" * 32)
    done_later = make_job(state=JobState.TRANSFERRING, updated_at=10.0, delete_digest="cd" * 32)
    failed = make_job(state=JobState.FAILED, updated_at=10.0, delete_digest="ef" * 32)
    for job in (kept, done_later, failed):
        store.create(job)
    store.update(done_later.id, state=JobState.DONE, updated_at=10.0)
    assert [job.id for job in store.purgeable_before(time.time() + 1)] == [failed.id]


def test_purgeable_before_on_an_empty_store(store: JobStore) -> None:
    assert store.purgeable_before(time.time()) == []


# --- unless_set, find_stored, count_download, removable -----------------------------------


def test_update_unless_set_changes_only_while_the_field_is_none(store: JobStore) -> None:
    job = make_job(state=JobState.DONE)
    store.create(job)
    claimed = store.update(job.id, unless_set="removed_at", removed_at=5.0)
    assert claimed.removed_at == 5.0
    with pytest.raises(StateConflict, match="removed_at"):
        store.update(job.id, unless_set="removed_at", removed_at=6.0, removed_because="x")
    assert store.get(job.id) == claimed
    with pytest.raises(TypeError):
        store.update(job.id, unless_set="no_such_field", downloads=1)


def test_update_unless_set_has_one_winner_under_concurrency(store: JobStore) -> None:
    """What deleting by a delete link (and taking a handed-off link) rests on: of many
    requests claiming one job at once, exactly one does."""
    job = make_job(state=JobState.DONE)
    store.create(job)

    def claim(n: int) -> bool:
        try:
            store.update(job.id, expect=FINISHED, unless_set="removed_at", removed_at=float(n))
        except StateConflict:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        won = [n for n, claimed in enumerate(pool.map(claim, range(1, 41))) if claimed]
    assert len(won) == 1
    assert store.get(job.id).removed_at == float(won[0] + 1)


def test_find_stored_finds_the_job_by_its_storage_key(store: JobStore) -> None:
    job = make_job(state=JobState.TRANSFERRING)
    store.create(job)
    assert store.find_stored("key-1") is None
    stored = store.update(job.id, state=JobState.DONE, storage_key="key-1")
    assert store.find_stored("key-1") == stored
    store.delete(job.id)
    assert store.find_stored("key-1") is None


def test_count_download_counts_up_to_max_downloads_then_refuses(store: JobStore) -> None:
    limited = make_job(state=JobState.DONE, storage_key="k", max_downloads=2)
    unlimited = make_job(state=JobState.DONE, storage_key="u")
    running = make_job(state=JobState.TRANSFERRING, max_downloads=2)
    for job in (limited, unlimited, running):
        store.create(job)
    assert [store.count_download(limited.id).downloads for _ in range(2)] == [1, 2]
    assert store.count_download(limited.id) is None
    assert store.get(limited.id).downloads == 2
    assert [store.count_download(unlimited.id).downloads for _ in range(3)] == [1, 2, 3]
    assert store.count_download(running.id) is None  # nothing stored yet
    assert store.count_download("no-such-job") is None
    store.update(unlimited.id, removed_at=1.0, removed_because="expired")
    assert store.count_download(unlimited.id) is None  # removed


def test_count_download_is_exact_under_concurrency(store: JobStore) -> None:
    job = make_job(state=JobState.DONE, storage_key="k", max_downloads=7)
    store.create(job)
    with ThreadPoolExecutor(8) as pool:
        counted = list(pool.map(lambda _: store.count_download(job.id), range(40)))
    assert sum(job is not None for job in counted) == 7
    assert store.get(job.id).downloads == 7


def test_removable_lists_expired_and_used_up_uploads(store: JobStore) -> None:
    expired = make_job(state=JobState.DONE, expires_at=100.0)
    later = make_job(state=JobState.DONE, expires_at=300.0)
    used_up = make_job(state=JobState.DONE, storage_key="k", max_downloads=1)
    kept = make_job(state=JobState.DONE)
    failed = make_job(state=JobState.FAILED, expires_at=50.0)
    running = make_job(state=JobState.TRANSFERRING, expires_at=50.0)
    for job in (expired, later, used_up, kept, failed, running):
        store.create(job)
    assert store.removable(200.0) == [expired]
    store.count_download(used_up.id)
    assert {job.id for job in store.removable(200.0)} == {expired.id, used_up.id}
    store.update(running.id, state=JobState.DONE)  # stored now: due since 50
    assert {job.id for job in store.removable(300.0)} == {
        expired.id,
        later.id,
        used_up.id,
        running.id,
    }
    store.update(expired.id, unless_set="removed_at", removed_at=250.0, removed_because="expired")
    store.delete(later.id)
    assert {job.id for job in store.removable(300.0)} == {used_up.id, running.id}
    store.update(running.id, removed_at=None, expires_at=None)  # a removal given back
    assert {job.id for job in store.removable(300.0)} == {used_up.id}


# --- stale_receiving --------------------------------------------------------------------


def test_stale_receiving_returns_old_receiving_jobs_only(store: JobStore) -> None:
    dead = make_job(state=JobState.RECEIVING, updated_at=50.0)
    older = make_job(state=JobState.RECEIVING, updated_at=10.0)
    alive = make_job(state=JobState.RECEIVING, updated_at=500.0)
    old_queued = make_job(state=JobState.QUEUED, updated_at=10.0)
    old_failed = make_job(state=JobState.FAILED, updated_at=10.0)
    for job in (dead, older, alive, old_queued, old_failed):
        store.create(job)
    assert store.stale_receiving(100.0) == [older, dead]  # oldest first
    store.update(dead.id, bytes_received=5)  # still arriving: updated_at is now
    assert store.stale_receiving(100.0) == [older]
    store.delete(older.id)
    assert store.stale_receiving(100.0) == []


# --- active_spool_paths ---------------------------------------------------------------


def test_active_spool_paths_are_those_of_jobs_not_done(store: JobStore) -> None:
    for state in JobState:
        store.create(make_job(state=state, spool_path=f"/spool/{state.value}"))
    store.create(make_job(state=JobState.QUEUED))  # no spool file yet
    expected = {f"/spool/{state.value}" for state in JobState if state is not JobState.DONE}
    assert store.active_spool_paths() == expected


def test_active_spool_paths_follow_updates_and_deletes(store: JobStore) -> None:
    job = make_job(state=JobState.TRANSFERRING, spool_path="/spool/a")
    other = make_job(state=JobState.QUEUED, spool_path="/spool/b")
    store.create(job)
    store.create(other)
    store.update(job.id, state=JobState.DONE)
    store.delete(other.id)
    assert store.active_spool_paths() == set()


# --- delete / check -------------------------------------------------------------------


def test_delete_forgets_the_job_everywhere(store: JobStore) -> None:
    job = make_job(state=JobState.FAILED, updated_at=1.0, spool_path="/spool/x")
    queued = make_job(state=JobState.QUEUED)
    store.create(job)
    store.create(queued)
    store.delete(job.id)
    store.delete(queued.id)
    assert store.get(job.id) is None
    assert store.purgeable_before(time.time()) == []
    assert store.resumable(time.time()) == []
    assert store.active_spool_paths() == set()
    assert store.counts() == dict.fromkeys(JobState, 0)


def test_delete_is_idempotent(store: JobStore) -> None:
    job = make_job()
    store.create(job)
    store.delete(job.id)
    store.delete(job.id)
    store.delete("never-existed")
    assert store.get(job.id) is None
    store.create(job)  # the id is free again
    assert store.get(job.id) == job


def test_check_passes_on_a_working_store(store: JobStore) -> None:
    store.check()
    job = make_job()
    store.create(job)  # and the store it checked works
    assert store.get(job.id) == job


def test_close_then_use_again(store: JobStore) -> None:
    """close() ends this process's connections; the store reconnects when used again."""
    job = make_job()
    store.create(job)
    store.close()
    store.close()  # twice is fine
    assert store.get(job.id) == job


# --- fencing tokens -------------------------------------------------------------------


def test_every_acquisition_gives_a_greater_token(store: JobStore) -> None:
    job = make_job(state=JobState.QUEUED)
    store.create(job)
    first = store.acquire_lease(job.id, "worker-a", -1)  # expired at once
    second = store.acquire_lease(job.id, "worker-b", TTL)
    again = store.acquire_lease(job.id, "worker-b", TTL)
    assert first is not None and second is not None and again is not None
    assert 0 < first < second < again
    assert store.get(job.id).lease_token == again


def test_refused_acquisition_gives_no_token(store: JobStore) -> None:
    job = make_job(state=JobState.QUEUED)
    store.create(job)
    token = store.acquire_lease(job.id, "worker-a", TTL)
    assert store.acquire_lease(job.id, "worker-b", TTL) is None
    assert store.acquire_lease("no-such-job", "worker-b", TTL) is None
    assert store.get(job.id).lease_token == token


def test_fenced_update_by_the_holder(store: JobStore) -> None:
    job = make_job(state=JobState.QUEUED)
    store.create(job)
    token = store.acquire_lease(job.id, "worker-a", TTL)
    updated = store.update(job.id, fence=Fence("worker-a", token), bytes_stored=10)
    assert updated.bytes_stored == 10


@pytest.mark.parametrize("field", ["bytes_stored", "state", "link"])
def test_fenced_update_refused_after_a_takeover_changes_nothing(
    store: JobStore, field: str
) -> None:
    """A worker that stalled past its lease: its successor's token is the only valid
    one, whatever the stale worker tries to write (progress, done, failed, link)."""
    job = make_job(state=JobState.TRANSFERRING)
    store.create(job)
    stale = store.acquire_lease(job.id, "worker-a", -1)
    store.acquire_lease(job.id, "worker-b", TTL)
    before = store.get(job.id)
    change = {"bytes_stored": 99, "state": JobState.FAILED, "link": "https://stale"}[field]
    with pytest.raises(LeaseLost):
        store.update(job.id, fence=Fence("worker-a", stale), **{field: change})
    assert store.get(job.id) == before


def test_fenced_update_refused_to_the_same_owner_with_an_old_token(store: JobStore) -> None:
    job = make_job(state=JobState.TRANSFERRING)
    store.create(job)
    old = store.acquire_lease(job.id, "worker-a", TTL)
    store.acquire_lease(job.id, "worker-a", TTL)
    with pytest.raises(LeaseLost):
        store.update(job.id, fence=Fence("worker-a", old), bytes_stored=1)


def test_fenced_update_refused_once_released(store: JobStore) -> None:
    job = make_job(state=JobState.TRANSFERRING)
    store.create(job)
    token = store.acquire_lease(job.id, "worker-a", TTL)
    store.release_lease(job.id, "worker-a")
    with pytest.raises(LeaseLost):
        store.update(job.id, fence=Fence("worker-a", token), bytes_stored=1)


def test_a_done_job_never_changes_its_link(store: JobStore) -> None:
    job = make_job(state=JobState.TRANSFERRING)
    store.create(job)
    fence = Fence("worker-a", store.acquire_lease(job.id, "worker-a", TTL))
    store.update(job.id, fence=fence, state=JobState.DONE, link="https://first")
    with pytest.raises(LeaseLost):
        store.update(job.id, fence=fence, link="https://second")
    assert store.get(job.id).link == "https://first"


def test_fenced_update_with_expect_still_checks_the_state(store: JobStore) -> None:
    job = make_job(state=JobState.QUEUED)
    store.create(job)
    fence = Fence("worker-a", store.acquire_lease(job.id, "worker-a", TTL))
    with pytest.raises(StateConflict) as refused:
        store.update(job.id, expect={JobState.RECEIVING}, fence=fence, bytes_stored=1)
    assert not isinstance(refused.value, LeaseLost)
    with pytest.raises(JobNotFound):
        store.update("no-such-job", fence=fence, bytes_stored=1)


# --- automatic retries ----------------------------------------------------------------


def test_awaiting_retry_lists_failed_jobs_with_a_retry_time(store: JobStore) -> None:
    scheduled = make_job(state=JobState.FAILED, retryable=True, next_retry_at=123.5)
    permanent = make_job(state=JobState.FAILED, retryable=False)
    queued = make_job(state=JobState.QUEUED, next_retry_at=99.0)  # not failed: ignored
    for job in (scheduled, permanent, queued):
        store.create(job)
    assert store.awaiting_retry() == {scheduled.id: 123.5}
    store.update(scheduled.id, expect={JobState.FAILED}, state=JobState.QUEUED, next_retry_at=None)
    assert store.awaiting_retry() == {}


def test_leases_lists_held_leases_of_unfinished_jobs(store: JobStore) -> None:
    held = make_job(state=JobState.TRANSFERRING)
    free = make_job(state=JobState.QUEUED)
    done = make_job(state=JobState.DONE, lease_owner="worker-x")
    for job in (held, free, done):
        store.create(job)
    store.acquire_lease(held.id, "worker-a", -1)  # expired still counts: someone holds it
    assert store.leases() == {held.id: "worker-a"}
