"""Durable upload jobs through a real gunicorn (2 workers) into the real emulator.

Every scenario runs with both job stores: SQLite (one machine) and Redis.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import requests

from tests.support.mega import download
from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from tests.support.servers import ServerProcess, start_server, worker_pids
from tests.support.uploads import job, send_async, wait_for_jobs

LEASE_SECONDS = "2"
DEFAULT_QUOTA = 50 * 1024**3


@pytest.fixture(autouse=True)
def _calm_emulator(sim: MegaSim) -> None:
    """No faults, throttle or quota change leaks from one test into the next; files
    and folders stay, since servers cache their upload folder."""
    sim.reset(nodes=False)


@pytest.fixture(params=["sqlite", "redis"])
def job_store(request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings selecting the job store under test."""
    if request.param == "redis":
        redis = request.getfixturevalue("redis_server")
        return {"redis_url": redis.url}
    return {}


def mega_settings(sim: MegaSim, job_store: dict[str, str]) -> dict[str, str]:
    return {
        "mega_api_url": sim.url,
        "mega_email": V2_EMAIL,
        "mega_password": V2_PASSWORD,
        "job_lease_seconds": LEASE_SECONDS,
        "transfer_concurrency": "2",
        **job_store,
    }


@pytest.fixture
def server(sim: MegaSim, job_store: dict[str, str], server_factory) -> ServerProcess:
    return server_factory(**mega_settings(sim, job_store))


def test_status_is_the_same_whichever_worker_answers(server: ServerProcess) -> None:
    job_id = send_async(server, "same.bin", os.urandom(300_000))
    wait_for_jobs(server, [job_id])
    views = []
    for _ in range(30):  # a new connection each time, so both workers get a turn
        with requests.Session() as fresh:
            views.append(fresh.get(f"{server.url}/status/{job_id}", timeout=30).json())
    assert all(view == views[0] for view in views)
    assert views[0]["state"] == "done"
    assert views[0]["size"] == 300_000
    answered_by = {  # the request log: one JSON line per request, with the worker's pid
        line["pid"]
        for line in map(json.loads, server.logs().splitlines())
        if line.get("path") == f"/status/{server.reference(job_id)}" and line.get("status") == 200
    }
    assert len(answered_by) >= 2, "only one worker answered; the test proves nothing"


def test_sigkill_of_a_worker_loses_no_upload(sim: MegaSim, server: ServerProcess) -> None:
    sim.throttle(2_000_000)
    contents = {f"k{i}.bin": os.urandom(200_000 + i * 4099) for i in range(20)}
    ids = {send_async(server, name, content): name for name, content in contents.items()}
    deadline = time.monotonic() + 30
    while not any(job(server, i)["state"] == "transferring" for i in ids):
        assert time.monotonic() < deadline, "no transfer started"
        time.sleep(0.05)
    victims = worker_pids(server)
    os.kill(victims[0], signal.SIGKILL)

    views = wait_for_jobs(server, list(ids), timeout=180)
    assert all(v["state"] == "done" for v in views.values()), views
    assert victims[0] not in worker_pids(server)
    assert len(worker_pids(server)) == 2  # gunicorn replaced the dead worker
    assert any(v["attempts"] >= 2 for v in views.values()), "no job was taken over"
    for job_id, view in views.items():
        assert download(sim, view["link"]) == contents[ids[job_id]]


def test_queued_jobs_finish_after_a_full_restart(
    sim: MegaSim, job_store: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    workdir = tmp_path_factory.mktemp("restart")
    settings = mega_settings(sim, job_store) | {"transfer_concurrency": "1"}
    first = start_server(workdir, **settings)
    sim.throttle(300_000)
    contents = {f"r{i}.bin": os.urandom(150_000 + i) for i in range(8)}
    try:
        ids = {send_async(first, name, content): name for name, content in contents.items()}
        states_at_stop = [job(first, job_id)["state"] for job_id in ids]
    finally:
        first.stop()
    assert "queued" in states_at_stop, "nothing was left queued; the test proves nothing"
    sim.throttle(0)
    second = start_server(workdir, **settings)
    try:
        views = wait_for_jobs(second, list(ids), timeout=120)
    finally:
        second.stop()
    assert all(v["state"] == "done" for v in views.values()), views
    for job_id, view in views.items():
        assert download(sim, view["link"]) == contents[ids[job_id]]


FAULTS = [
    ("api", -3),  # EAGAIN
    ("api", -4),  # rate limit
    ("upload", "http500"),
    ("upload", "drop"),
    ("upload", -8),  # upload URL expired
]


@pytest.mark.parametrize(("target", "error"), FAULTS)
def test_transient_faults_end_in_done(
    sim: MegaSim, server: ServerProcess, target: str, error: int | str
) -> None:
    assert_fault_ends_in_done(sim, server, target, error)


@pytest.mark.parametrize("job_store", ["sqlite"], indirect=True)
def test_an_expired_session_ends_in_done(sim: MegaSim, server: ServerProcess) -> None:
    """-15: the session expired; the next login waits out the one-per-minute interval
    (60 s). The job store plays no part in it, so this runs on one store only."""
    assert_fault_ends_in_done(sim, server, "api", -15)


def assert_fault_ends_in_done(
    sim: MegaSim, server: ServerProcess, target: str, error: int | str
) -> None:
    content = os.urandom(1_500_000)
    requests.post(f"{server.url}/upload", files={"file": ("warm.bin", b"w")}, timeout=60)
    sim.fault(target, error, count=1)
    reply = requests.post(f"{server.url}/upload", files={"file": ("f.bin", content)}, timeout=120)
    assert reply.status_code == 200, reply.text
    assert download(sim, reply.json()["link"]) == content
    assert sim.state()["faults"] == []


def test_over_quota_fails_clearly_keeps_the_file_and_retry_succeeds(
    sim: MegaSim, server: ServerProcess
) -> None:
    requests.post(f"{server.url}/upload", files={"file": ("warm.bin", b"w")}, timeout=60)
    used = next(a["used_bytes"] for a in sim.state()["accounts"] if a.get("email") == V2_EMAIL)
    sim.set_quota(V2_EMAIL, used + 10_000)
    content = os.urandom(400_000)
    refused = requests.post(f"{server.url}/upload", files={"file": ("q.bin", content)}, timeout=60)
    assert refused.status_code == 507
    body = refused.json()
    assert body["error"] == "storage_full"
    assert body["retryable"] is False
    assert "out of storage space" in body["message"]
    failed = job(server, body["id"])
    assert failed["state"] == "failed"
    assert failed["error"] == body["message"]
    assert len(list((server.data_dir / "spool").iterdir())) == 1  # kept for the retry

    sim.set_quota(V2_EMAIL, DEFAULT_QUOTA)
    retried = requests.post(f"{server.url}/status/{body['id']}/retry", timeout=30)
    assert retried.status_code == 202
    done = wait_for_jobs(server, [body["id"]])[body["id"]]
    assert done["state"] == "done"
    assert done["attempts"] == 2
    assert download(sim, done["link"]) == content
    assert list((server.data_dir / "spool").iterdir()) == []
    again = requests.post(f"{server.url}/status/{body['id']}/retry", timeout=30)
    assert again.status_code == 409
