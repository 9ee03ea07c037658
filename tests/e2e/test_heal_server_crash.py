"""A whole server crashed (master and workers SIGKILLed at once, mid-transfer and
mid-PATCH) and the same command started again at once, on the same port and data
directory, as a supervisor or a container engine would: the dead workers' leases are
given back at once (paimon/jobs/owners.py), not after their 30 s, although

- ``unreaped``: the old workers stay zombies (their parent, like a container init that
  does not reap, waits for nothing), which answer ``kill(pid, 0)`` as if alive; or
- ``new-pid-namespace``: both servers run in a fresh PID namespace (``unshare --pid
  --fork --mount-proc``, as a container does, gunicorn as its pid 1), so the new
  workers get the very pids of the old ones.

In both, with either job store, the two MEGA transfers the crash cut off move again,
and the tus PATCH it cut off is accepted, within 5 s of the new server answering
/healthz; the transfers go on from what MEGA acknowledged, and every file arrives
whole (bytes and MACs). Run with ``-s`` to see the recovery times.

And two instances on one host, each in a PID namespace of its own, sharing a data
volume and a Redis (compose.yaml): the one that starts leaves the other's live lease
alone, though its own workers have the pids the owner name says, and takes the
transfer over a third of a lease after the other is killed, not a whole lease.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import requests

from paimon.jobs.redis import RedisJobStore
from paimon.jobs.sqlite import SqliteJobStore
from paimon.jobs.store import JobStore
from paimon_devtools.crash import (
    KILL_AT,
    LEASE_SECONDS,
    PER_CONNECTION,
    RESTARTS,
    SIZE,
    crash,
    crashed_and_restarted,
    owner_pid,
    pid_inside,
    server_settings,
    state,
    workers,
)
from tests.support.mega import download
from tests.support.megasim import MegaSim
from tests.support.servers import eventually, start_server
from tests.support.uploads import job, send_async

RECOVERY_SECONDS = 5  # from /healthz answering to a PATCH accepted, a transfer resumed


@pytest.fixture(params=["sqlite", "redis"])
def store_settings(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "redis":
        return {"redis_url": request.getfixturevalue("redis_db").url}
    return {}


def open_store(data_dir: Path, settings: dict[str, str]) -> JobStore:
    if "redis_url" in settings:
        return RedisJobStore(settings["redis_url"])
    return SqliteJobStore(data_dir / "jobs.sqlite3")


@pytest.mark.parametrize("restart", list(RESTARTS))
def test_a_crashed_server_restarted_at_once_resumes_within_5_s(
    restart: str,
    store_settings: dict[str, str],
    megasim: MegaSim,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    workdir = tmp_path_factory.mktemp("crashed")
    settings = server_settings(megasim, workdir / "data", **store_settings)
    jobs = open_store(workdir / "data", settings)
    try:
        with crashed_and_restarted(
            start_server, megasim, jobs, workdir, restart, settings
        ) as crashed:
            second = crashed.second
            assert second is not None
            if restart == "unreaped":  # kill(pid, 0) succeeds on each
                assert {state(pid) for pid in crashed.old_workers} == {"Z"}
            else:  # the old owners' pids belong to the new workers now
                assert {owner_pid(owner) for owner in crashed.old_owners} <= {
                    pid_inside(pid) for pid in workers(second)
                }
            assert crashed.tus.answered is None  # the crash cut the PATCH off
            store = "redis" if store_settings else "sqlite"
            print(f"\n{restart}, {store}: seconds after /healthz: {crashed.seconds}")
            assert crashed.seconds["tus_patch_accepted"] < RECOVERY_SECONDS
            assert crashed.seconds["transfers_taken_over"] < RECOVERY_SECONDS
            assert crashed.seconds["transfers_resumed"] < RECOVERY_SECONDS
            assert "lease(s) of dead processes" in second.logs()

            every = [*crashed.transfers, crashed.tus.id]
            assert eventually(lambda: all(job(second, j)["state"] == "done" for j in every), 120)
            megasim.network()  # unshaped again, to read the files back
            for job_id, content in crashed.transfers.items():
                view = job(second, job_id)
                assert view["attempts"] == 2
                assert view["resumed_from"] > 0  # from what MEGA had acknowledged
                assert download(megasim, view["link"]) == content
            tus_link = job(second, crashed.tus.id)["link"]
            assert download(megasim, tus_link) == crashed.tus.content
    finally:
        jobs.close()


def test_an_instance_sharing_the_volume_takes_a_dead_ones_transfer_over_before_its_lease_ends(
    redis_db, megasim: MegaSim, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """compose.yaml on one host: two instances, each a container (a PID namespace of its
    own, so both have workers with pids 2 and 3), share a Redis and a data volume. The
    instance that starts while the other transfers leaves that transfer alone; once the
    other is killed whole, it takes the transfer over at its next maintenance pass, a
    third of a lease, instead of after the lease."""
    data_dir = tmp_path_factory.mktemp("shared") / "data"
    settings = server_settings(megasim, data_dir, redis_url=redis_db.url)
    container = RESTARTS["new-pid-namespace"]
    first = start_server(tmp_path_factory.mktemp("first"), wrapper=container, **settings)
    other = None
    jobs = open_store(data_dir, settings)
    try:
        warm = requests.post(f"{first.url}/upload", files={"file": ("w.bin", b"w")}, timeout=60)
        assert warm.status_code == 200, warm.text
        megasim.network(connection_bytes_per_second=PER_CONNECTION)
        content = os.urandom(2 * SIZE)  # 16 s: still running when the other has started
        job_id = send_async(first, "shared.bin", content)

        def in_flight() -> bool:
            running = jobs.get(job_id)
            return running.bytes_stored >= KILL_AT * SIZE and running.transfer_state is not None

        assert eventually(in_flight, timeout=60, interval=0.02)
        running = jobs.get(job_id)

        other = start_server(tmp_path_factory.mktemp("other"), wrapper=container, **settings)
        assert owner_pid(running.lease_owner) in {pid_inside(pid) for pid in workers(other)}
        time.sleep(2)  # the other's workers started, and made their first pass
        still = jobs.get(job_id)
        assert (still.lease_owner, still.lease_token) == (running.lease_owner, running.lease_token)
        assert still.state == "transferring" and still.bytes_stored < len(content)

        crash(first)
        lease_ends = jobs.get(job_id).lease_expires  # nobody renews it any more
        assert eventually(lambda: jobs.get(job_id).attempts >= 2, timeout=2 * LEASE_SECONDS)
        taken_over = time.time()
        print(f"\ntaken over {lease_ends - taken_over:.1f} s before the dead one's lease ended")
        assert taken_over < lease_ends
        assert eventually(lambda: job(other, job_id)["state"] == "done", timeout=120)
        megasim.network()
        view = job(other, job_id)
        assert view["resumed_from"] > 0
        assert download(megasim, view["link"]) == content
    finally:
        jobs.close()
        for server in (other, first):
            if server is not None:
                server.stop()
