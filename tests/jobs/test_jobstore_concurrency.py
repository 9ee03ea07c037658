"""Races that matter: worker processes taking over jobs, threads moving the same jobs."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable

from paimon.jobs.model import JobState
from paimon.jobs.store import JobStore, StateConflict
from tests.support.jobstores import StoreSpec, in_processes, make_job, race_for_leases

PROCESSES = 8
THREADS = 16
JOIN_TIMEOUT_SECONDS = 60


def in_threads(count: int, target: Callable[[int], object]) -> list[object]:
    """Run ``target(n)`` in ``count`` threads released at once; return their results."""
    start = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(n: int) -> None:
        start.wait(timeout=JOIN_TIMEOUT_SECONDS)
        try:
            results[n] = target(n)
        except BaseException as exc:
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT_SECONDS)
    assert not any(thread.is_alive() for thread in threads)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def test_each_job_is_leased_by_exactly_one_of_many_processes(
    store_spec: StoreSpec, store: JobStore
) -> None:
    jobs = [make_job(state=JobState.TRANSFERRING) for _ in range(50)]
    for job in jobs:
        store.create(job)
    job_ids = [job.id for job in jobs]
    owners = [f"worker-{n}" for n in range(PROCESSES)]
    won = in_processes(race_for_leases, store_spec, owners, job_ids)
    winners = Counter(job_id for ids in won.values() for job_id in ids)
    assert winners == Counter(job_ids)  # every job won, none twice
    for owner, ids in won.items():
        assert {store.get(job_id).lease_owner for job_id in ids} <= {owner}


def test_each_job_is_claimed_once_when_threads_race_with_expect(store: JobStore) -> None:
    jobs = [make_job(state=JobState.QUEUED) for _ in range(40)]
    for job in jobs:
        store.create(job)

    def claim_all(n: int) -> list[str]:
        claimed = []
        for job in jobs:
            try:
                store.update(job.id, expect={JobState.QUEUED}, state=JobState.TRANSFERRING)
            except StateConflict:
                continue
            claimed.append(job.id)
        return claimed

    claims = Counter(job_id for ids in in_threads(THREADS, claim_all) for job_id in ids)
    assert claims == Counter(job.id for job in jobs)
    assert store.counts()[JobState.TRANSFERRING] == len(jobs)


def test_expect_serialises_read_modify_write_without_lost_updates(store: JobStore) -> None:
    """The job's state used as a mutex: queued = free, transferring = taken. Only an
    atomic compare-and-set lets every increment of ``attempts`` survive."""
    job = make_job(state=JobState.QUEUED)
    store.create(job)
    threads, increments, max_tries = 8, 25, 50_000

    def increment(n: int) -> int:
        done = 0
        for _ in range(max_tries):
            if done == increments:
                break
            try:
                store.update(job.id, expect={JobState.QUEUED}, state=JobState.TRANSFERRING)
            except StateConflict:
                time.sleep(0.0001)
                continue
            attempts = store.get(job.id).attempts
            store.update(
                job.id, expect={JobState.TRANSFERRING}, state=JobState.QUEUED, attempts=attempts + 1
            )
            done += 1
        return done

    assert in_threads(threads, increment) == [increments] * threads
    assert store.get(job.id).attempts == threads * increments


def _update_in_forked_child(store: JobStore, job_id: str) -> None:
    store.update(job_id, state=JobState.QUEUED)
    if not store.acquire_lease(job_id, "child", 60):
        raise SystemExit(3)


def test_a_forked_worker_uses_the_store_its_parent_opened(store: JobStore) -> None:
    """Gunicorn may build the app before forking workers: a child must open its own
    connections rather than share the parent's."""
    job = make_job()
    store.create(job)
    store.check()  # the parent is connected
    child = multiprocessing.get_context("fork").Process(
        target=_update_in_forked_child, args=(store, job.id)
    )
    child.start()
    child.join(timeout=JOIN_TIMEOUT_SECONDS)
    assert child.exitcode == 0
    loaded = store.get(job.id)  # the parent's connection still works
    assert (loaded.state, loaded.lease_owner) == (JobState.QUEUED, "child")
    assert store.update(job.id, state=JobState.DONE).state is JobState.DONE
