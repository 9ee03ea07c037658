"""The job store tests' helpers, importable by the processes those tests spawn, and their
fixtures (a pytest plugin, tests/conftest.py): ``store`` is a fresh, empty store of each
kind, SQLite and a real Redis, so every test that takes it runs against both."""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from typing import Literal

import pytest

from paimon.jobs.model import Job, new_job_id
from paimon.jobs.redis import RedisJobStore
from paimon.jobs.sqlite import SqliteJobStore
from paimon.jobs.store import JobStore

PROCESS_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class StoreSpec:
    """How to open the same store again, in this process or another one."""

    kind: Literal["sqlite", "redis"]
    location: str  # the SQLite file, or the Redis URL

    def open(self) -> JobStore:
        if self.kind == "sqlite":
            return SqliteJobStore(self.location)
        return RedisJobStore(self.location)


def make_job(**fields: object) -> Job:
    return Job(**{"id": new_job_id(), "filename": "report.pdf", "backend": "local", **fields})


def race_for_leases(
    spec: StoreSpec, owner: str, job_ids: Sequence[str], start: Barrier
) -> list[str]:
    """Try to lease every job, in the same order as every other racer: they collide on
    each job. Returns the ids this owner won."""
    store = spec.open()
    store.check()  # connected before the start, so the race is on acquire_lease alone
    start.wait(timeout=PROCESS_TIMEOUT_SECONDS)
    return [job_id for job_id in job_ids if store.acquire_lease(job_id, owner, ttl=300)]


def create_jobs(spec: StoreSpec, owner: str, count: int, start: Barrier) -> list[str]:
    """Open the store and create ``count`` jobs at once with the other processes."""
    start.wait(timeout=PROCESS_TIMEOUT_SECONDS)
    store = spec.open()
    jobs = [make_job(filename=f"{owner}-{n}") for n in range(count)]
    for job in jobs:
        store.create(job)
    return [job.id for job in jobs]


def _run_and_report(target: Callable, args: tuple, results: multiprocessing.Queue) -> None:
    try:
        results.put((args[1], target(*args)))
    except BaseException as exc:
        results.put((args[1], exc))
        raise


def in_processes(target: Callable, spec: StoreSpec, owners: Sequence[str], *args: object) -> dict:
    """Run ``target(spec, owner, *args, barrier)`` in one fresh (spawned) process per
    owner, all released at once; return owner -> result, raising any process's error."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(len(owners))
    results = context.Queue()
    processes = [
        context.Process(target=_run_and_report, args=(target, (spec, owner, *args, start), results))
        for owner in owners
    ]
    for process in processes:
        process.start()
    deadline = time.monotonic() + PROCESS_TIMEOUT_SECONDS
    outcomes: dict = {}
    try:
        while len(outcomes) < len(owners):
            try:
                owner, outcome = results.get(timeout=0.5)
            except queue.Empty:
                exit_codes = [process.exitcode for process in processes]
                if time.monotonic() > deadline or None not in exit_codes:
                    raise AssertionError(
                        f"processes gave no result; exit codes {exit_codes}"
                    ) from None
                continue
            outcomes[owner] = outcome
    finally:
        for process in processes:
            process.join(timeout=PROCESS_TIMEOUT_SECONDS)
            if process.is_alive():
                process.kill()
    for owner, outcome in outcomes.items():
        if isinstance(outcome, BaseException):
            raise AssertionError(f"process {owner} failed") from outcome
    return outcomes


@pytest.fixture(params=["sqlite", "redis"])
def store_spec(request: pytest.FixtureRequest, tmp_path) -> StoreSpec:
    """A fresh, empty store of each kind (Redis: the test server, flushed)."""
    if request.param == "redis":
        return StoreSpec("redis", request.getfixturevalue("redis_db").url)
    return StoreSpec("sqlite", str(tmp_path / "jobs.sqlite3"))


@pytest.fixture
def store(store_spec: StoreSpec) -> Iterator[JobStore]:
    store = store_spec.open()
    yield store
    store.close()


@pytest.fixture
def autoclose() -> Iterator[Callable[[JobStore], JobStore]]:
    """``autoclose(store)`` is the store, closed at teardown (no unclosed warnings)."""
    stores: list[JobStore] = []
    yield lambda store: stores.append(store) or store
    for store in stores:
        store.close()
