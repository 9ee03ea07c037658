"""Fencing: a worker stalled past its lease (SIGSTOP, as a GC pause or a swapping host
would) cannot write to the job its successor finished, through a real gunicorn with
two workers into the emulator, with either job store.

Before fencing, the stalled worker's upload completed meanwhile (its bytes were in the
socket buffers), and when it woke up it created a second MEGA node and overwrote the
`done` job's link with its own.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator

import pytest
import requests

from paimon.jobs.redis import RedisJobStore
from paimon.jobs.sqlite import SqliteJobStore
from paimon.jobs.store import JobStore
from tests.support.mega import download
from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from tests.support.servers import ServerProcess, eventually, worker_pids
from tests.support.uploads import job, send_async

LEASE_SECONDS = 2
THROTTLE = 80_000  # bytes/s the emulator reads: the upload takes a few seconds
SIZE = 240_000  # small enough to sit whole in the socket buffers of a stopped worker


@pytest.fixture(params=["sqlite", "redis"])
def setup(
    request: pytest.FixtureRequest, sim: MegaSim, server_factory
) -> Iterator[tuple[ServerProcess, JobStore]]:
    sim.reset(nodes=False)
    store = {"redis_url": request.getfixturevalue("redis_server").url}
    server = server_factory(
        mega_api_url=sim.url,
        mega_email=V2_EMAIL,
        mega_password=V2_PASSWORD,
        job_lease_seconds=str(LEASE_SECONDS),
        transfer_concurrency="2",
        **(store if request.param == "redis" else {}),
    )
    if request.param == "redis":
        jobs: JobStore = RedisJobStore(store["redis_url"])
    else:
        jobs = SqliteJobStore(server.data_dir / "jobs.sqlite3")
    yield server, jobs
    jobs.close()


def stop_between_writes(pid: int, jobs: JobStore) -> None:
    """SIGSTOP the worker, at a moment it is not inside a write to a SQLite store.

    Stopped inside one (a commit takes a few ms, with its fsync), it would hold the
    file's write lock until it runs again: then no other worker can write either (reads
    go on; docs/jobs.md), there is nobody to fence, and this test would wait for a
    takeover that cannot happen. Redis commands run in the server, so a stopped client
    holds nothing there.
    """
    for _ in range(100):
        os.kill(pid, signal.SIGSTOP)
        if not isinstance(jobs, SqliteJobStore) or not _write_lock_held(jobs.path):
            return
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError(f"worker {pid} held the SQLite write lock at every try")


def _write_lock_held(path: os.PathLike) -> bool:
    connection = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
            raise
        return True
    finally:
        connection.close()


def file_nodes(sim: MegaSim) -> list[dict]:
    return [node for node in sim.state()["nodes"] if node["t"] == 0]


def test_a_worker_stopped_past_its_lease_changes_nothing(
    sim: MegaSim, setup: tuple[ServerProcess, JobStore]
) -> None:
    server, jobs = setup
    warm = requests.post(f"{server.url}/upload", files={"file": ("w.bin", b"w")}, timeout=60)
    assert warm.status_code == 200, warm.text
    nodes_before = len(file_nodes(sim))
    sim.throttle(THROTTLE)
    content = os.urandom(SIZE)
    job_id = send_async(server, "fenced.bin", content)
    assert eventually(lambda: jobs.get(job_id).state == "transferring", timeout=30, interval=0.01)
    first = jobs.get(job_id)
    stalled = next(pid for pid in worker_pids(server) if f":{pid}:" in first.lease_owner)
    time.sleep(0.3)  # its bytes are on their way
    stop_between_writes(stalled, jobs)
    try:
        assert eventually(lambda: job(server, job_id)["state"] == "done", timeout=60)
        done = job(server, job_id)
        assert jobs.get(job_id).lease_token > first.lease_token  # the other worker's
        time.sleep(LEASE_SECONDS)  # the stalled worker's bytes have all arrived by now
    finally:
        os.kill(stalled, signal.SIGCONT)
    time.sleep(3 * LEASE_SECONDS)  # it wakes up, and would make its node and write now

    after = job(server, job_id)
    assert (after["state"], after["link"]) == ("done", done["link"])
    assert len(file_nodes(sim)) == nodes_before + 1
    assert download(sim, after["link"]) == content
