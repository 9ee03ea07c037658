"""Automatic retries after a storage outage, through a real gunicorn into the emulator.

The outage: every request to the emulator's API and upload URLs answers HTTP 500 (its
fault injection, docs/megasim.md) for longer than two whole transfer attempts, then
it is lifted. Before automatic retries every queued job stayed `failed` until someone
called POST /status/<id>/retry.
"""

from __future__ import annotations

import os
import time

import pytest
import requests

from paimon.uploads.transfers import (
    RETRY_FIRST_SECONDS,
    RETRY_JITTER_SECONDS,
    RETRY_MAX_SECONDS,
    retry_delay,
)
from tests.support.mega import download
from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from tests.support.servers import ServerProcess, eventually
from tests.support.uploads import job, send_async, wait_for_jobs

OUTAGE_FAULTS = 1_000_000  # requests that fail: far more than the outage sees
#: It took 14 s before /status stopped waiting on MEGA's retries; 0.1 s flaked (0.2 s)
#: with the suite's files running in parallel.
STATUS_BUDGET_SECONDS = 1.0


@pytest.fixture(params=["sqlite", "redis"])
def server(request: pytest.FixtureRequest, sim: MegaSim, server_factory) -> ServerProcess:
    sim.reset(nodes=False)
    store = {"redis_url": request.getfixturevalue("redis_server").url}
    return server_factory(
        mega_api_url=sim.url,
        mega_email=V2_EMAIL,
        mega_password=V2_PASSWORD,
        job_lease_seconds="2",
        transfer_concurrency="2",
        **(store if request.param == "redis" else {}),
    )


def start_outage(sim: MegaSim) -> None:
    for target in ("api", "upload"):
        sim.fault(target, "http500", count=OUTAGE_FAULTS)


def test_queued_jobs_finish_by_themselves_after_an_outage(
    sim: MegaSim, server: ServerProcess
) -> None:
    warm = requests.post(f"{server.url}/upload", files={"file": ("w.bin", b"w")}, timeout=60)
    assert warm.status_code == 200, warm.text  # logged in, folder found
    start_outage(sim)

    # A client that waits still hears about the failure at once (one attempt).
    sync_content = os.urandom(200_000)
    started = time.monotonic()
    refused = requests.post(
        f"{server.url}/upload", files={"file": ("sync.bin", sync_content)}, timeout=60
    )
    assert refused.status_code == 502, refused.text
    assert refused.json()["retryable"] is True
    assert time.monotonic() - started < 30

    contents = {f"a{i}.bin": os.urandom(300_000 + i) for i in range(4)}
    ids = {send_async(server, name, content): name for name, content in contents.items()}
    contents["sync.bin"] = sync_content
    ids[refused.json()["id"]] = "sync.bin"

    # Down for longer than two attempts of every job: each failed and was retried by
    # itself at least once (before, all stayed failed after their first attempt).
    failing = wait_for_jobs(
        server, list(ids), lambda views: all(v["attempts"] >= 2 for v in views.values()), 90
    )
    waiting = [view for view in failing.values() if view["state"] == "failed"]
    assert all(view["state"] != "done" for view in failing.values())
    for view in waiting:
        assert view["retryable"] is True
        assert view["next_retry_at"] > view["updated_at"]
    # Degraded whenever a job waits for its retry (not at an instant when all are being
    # tried again).
    replies: list[requests.Response] = []
    assert eventually(
        lambda: (
            replies.append(requests.get(f"{server.url}/readyz", timeout=10))
            or replies[-1].status_code == 503
        ),
        timeout=20,
    )
    ready = replies[-1]
    assert ready.headers["Retry-After"]
    assert "storage" in ready.json()["failed"]  # its login may still be cached: then
    assert ready.json()["checks"]["storage"]["ok"] is False  # "mega is degraded: ..."
    for _ in range(5):  # the backend's usage call hangs in its retries: not /status
        started = time.monotonic()
        assert requests.get(f"{server.url}/status", timeout=10).status_code == 200
        assert time.monotonic() - started < STATUS_BUDGET_SECONDS

    sim.reset(nodes=False)  # MEGA is back
    views = wait_for_jobs(
        server, list(ids), lambda views: all(v["state"] == "done" for v in views.values()), 60
    )
    for job_id, view in views.items():
        assert view["next_retry_at"] is None
        assert download(sim, view["link"]) == contents[ids[job_id]]
    assert requests.get(f"{server.url}/readyz", timeout=10).status_code == 200


def test_a_permanent_failure_is_not_retried(sim: MegaSim, server: ServerProcess) -> None:
    requests.post(f"{server.url}/upload", files={"file": ("w.bin", b"w")}, timeout=60)
    used = next(a["used_bytes"] for a in sim.state()["accounts"] if a.get("email") == V2_EMAIL)
    sim.set_quota(V2_EMAIL, used + 10_000)
    job_id = send_async(server, "big.bin", os.urandom(400_000))
    view = wait_for_jobs(server, [job_id], lambda v: v[job_id]["state"] == "failed", 30)[job_id]
    assert (view["retryable"], view["next_retry_at"]) == (False, None)
    time.sleep(3)  # past the first automatic retry a temporary failure would get
    assert job(server, job_id)["attempts"] == 1
    assert requests.get(f"{server.url}/readyz", timeout=10).status_code == 200


def test_retry_delays_grow_with_jitter_and_stay_bounded() -> None:
    delays = {n: [retry_delay(n) for _ in range(50)] for n in (1, 2, 3, 20)}
    for n in (1, 2, 3):
        low = RETRY_FIRST_SECONDS * 2 ** (n - 1)
        assert all(low <= d <= low + RETRY_JITTER_SECONDS for d in delays[n])
        assert len(set(delays[n])) > 1  # jitter: jobs of one outage spread out
    assert all(d == RETRY_MAX_SECONDS for d in delays[20])
