"""Fast recovery: a SIGKILLed worker's jobs are resumed at once, not after its lease.

The lease here is the default 30 s: before, the killed worker's job waited all of it.
Now gunicorn's master gives the dead worker's leases back (child_exit), and a worker
that starts gives back those of dead processes of its own host.
"""

from __future__ import annotations

import os
import signal
import time
from urllib.parse import urlsplit

import pytest
import requests

from paimon.jobs.redis import RedisJobStore
from paimon.jobs.sqlite import SqliteJobStore
from paimon.jobs.store import JobStore
from tests.support.mega import download
from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim, stock_mega_client
from tests.support.rawhttp import PIECE, SlowBody, tus_patch_head
from tests.support.servers import ServerProcess, eventually, holder_pid, start_server
from tests.support.uploads import MIB, TUS, job, send_async, tus_patch

LEASE_SECONDS = 30
THROTTLE = 400_000  # bytes/s
SIZE = 800_000  # two seconds of transfer
RECOVERY_SECONDS = 5 + SIZE / THROTTLE + 1  # 5 s, the transfer, and a second of slack


@pytest.fixture(params=["sqlite", "redis"])
def settings(request: pytest.FixtureRequest, sim: MegaSim) -> dict[str, str]:
    sim.reset(nodes=False)
    store = {"redis_url": request.getfixturevalue("redis_server").url}
    return {
        "mega_api_url": sim.url,
        "mega_email": V2_EMAIL,
        "mega_password": V2_PASSWORD,
        "job_lease_seconds": str(LEASE_SECONDS),
        "transfer_concurrency": "2",
        **(store if request.param == "redis" else {}),
    }


def open_store(server: ServerProcess, settings: dict[str, str]) -> JobStore:
    if "redis_url" in settings:
        return RedisJobStore(settings["redis_url"])
    return SqliteJobStore(server.data_dir / "jobs.sqlite3")


def test_a_killed_workers_job_finishes_within_5_s_plus_its_transfer(
    sim: MegaSim, settings: dict[str, str], server_factory
) -> None:
    server = server_factory(**settings)
    jobs = open_store(server, settings)
    try:
        warm = requests.post(f"{server.url}/upload", files={"file": ("w.bin", b"w")}, timeout=60)
        assert warm.status_code == 200, warm.text
        sim.throttle(THROTTLE)
        content = os.urandom(SIZE)
        job_id = send_async(server, "killed.bin", content)
        assert eventually(lambda: jobs.get(job_id).state == "transferring", interval=0.01)
        os.kill(holder_pid(server, jobs, job_id), signal.SIGKILL)
        killed_at = time.monotonic()
        assert eventually(lambda: job(server, job_id)["state"] == "done", timeout=60)
        assert time.monotonic() - killed_at < RECOVERY_SECONDS
        view = job(server, job_id)
        assert view["attempts"] == 2
        assert download(sim, view["link"]) == content
    finally:
        jobs.close()


def test_a_killed_servers_jobs_resume_at_once_on_the_next_start(
    sim: MegaSim, settings: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The whole server SIGKILLed (master too: no child_exit): the next start's workers
    give back the leases of this host's dead processes."""
    workdir = tmp_path_factory.mktemp("killed-server")
    first = start_server(workdir, **settings)
    jobs = open_store(first, settings)
    try:
        requests.post(f"{first.url}/upload", files={"file": ("w.bin", b"w")}, timeout=60)
        sim.throttle(THROTTLE)
        content = os.urandom(SIZE)
        job_id = send_async(first, "crashed.bin", content)
        assert eventually(lambda: jobs.get(job_id).state == "transferring", interval=0.01)
        holder = holder_pid(first, jobs, job_id)
        for pid in {first.process.pid, holder}:
            os.kill(pid, signal.SIGKILL)
        first.process.wait()
        assert eventually(lambda: not os.path.exists(f"/proc/{holder}"), timeout=10)
        second = start_server(workdir, **settings)
        try:
            restarted_at = time.monotonic()
            assert eventually(lambda: job(second, job_id)["state"] == "done", timeout=60)
            assert time.monotonic() - restarted_at < RECOVERY_SECONDS
            assert download(sim, job(second, job_id)["link"]) == content
        finally:
            second.stop()
    finally:
        first.stop()
        jobs.close()


def test_a_tus_patch_cut_off_by_a_sigkill_is_resumed_within_5_s(server_factory) -> None:
    """Before, the dead PATCH held the upload's lease (30 s here): every PATCH was told
    423 for longer than tus-js-client's retry schedule (0, 1, 3, 5, 10 s) lasts."""
    server = server_factory(job_lease_seconds=str(LEASE_SECONDS))
    jobs = SqliteJobStore(server.data_dir / "jobs.sqlite3")
    content = os.urandom(2 * MIB)
    created = requests.post(
        f"{server.url}/tus/", headers={**TUS, "Upload-Length": str(len(content))}, timeout=10
    )
    assert created.status_code == 201, created.text
    tus_path = urlsplit(created.headers["Location"]).path
    tus_id = tus_path.rsplit("/", 1)[1]
    head = tus_patch_head(tus_path, len(content))
    slow = SlowBody(server.url, head, content, pause=0.1)
    slow.start()
    try:
        assert eventually(lambda: slow.sent >= 4 * PIECE and jobs.get(tus_id).lease_owner)
        os.kill(holder_pid(server, jobs, tus_id), signal.SIGKILL)
        killed_at = time.monotonic()
        slow.join(timeout=30)

        def patched() -> bool:
            offset = requests.head(f"{server.url}{tus_path}", headers=TUS, timeout=10)
            kept = int(offset.headers["Upload-Offset"])
            return tus_patch(f"{server.url}{tus_path}", kept, content[kept:]).status_code == 204

        assert eventually(patched, timeout=LEASE_SECONDS, interval=0.5)
        assert time.monotonic() - killed_at < 5
    finally:
        jobs.close()


def mega_files_named(sim: MegaSim, name: str) -> int:
    """File nodes of that name in the account, as stock mega.py (another client) sees."""
    files = stock_mega_client(sim.url).login(V2_EMAIL, V2_PASSWORD).get_files()
    return sum(1 for node in files.values() if node["t"] == 0 and node["a"]["n"] == name)


def test_a_worker_killed_between_p_and_the_job_update_leaves_one_node(
    sim: MegaSim, settings: dict[str, str], server_factory
) -> None:
    """Issue 16: MEGA created the node (`p`), then the worker died before it recorded it.
    The job's next attempt finds the node by the job id in its attributes and adopts it
    instead of uploading again: one node, the link it carries, the right bytes."""
    server = server_factory(**settings)
    jobs = open_store(server, settings)
    try:
        warm = requests.post(f"{server.url}/upload", files={"file": ("w.bin", b"w")}, timeout=60)
        assert warm.status_code == 200, warm.text
        sim.pause("p", 15)  # the next node creation is carried out, its answer held
        content = os.urandom(SIZE)
        name = f"between-{'redis' if 'redis_url' in settings else 'sqlite'}.bin"
        job_id = send_async(server, name, content)
        # MEGA has the node; the job does not know it (its answer is held).
        assert eventually(lambda: mega_files_named(sim, name) == 1, timeout=30)
        assert sim.state()["pauses"]["holding"] >= 1
        assert jobs.get(job_id).state == "transferring"
        os.kill(holder_pid(server, jobs, job_id), signal.SIGKILL)
        assert eventually(lambda: job(server, job_id)["state"] == "done", timeout=60)
        view = job(server, job_id)
        assert view["attempts"] == 2
        assert download(sim, view["link"]) == content
        assert mega_files_named(sim, name) == 1
    finally:
        jobs.close()
