"""Several instances: two gunicorn masters on two ports sharing one Redis and one data
directory, as compose.yaml runs them (docs/deployment.md, "Several instances").

Status answers the same on both, a tus upload started on one finishes on the other,
the jobs of an instance SIGKILLed mid-transfer are taken over and finished by the
other, and the upload rate limit counts across both.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import pytest
import requests

from tests.support.mega import download
from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from tests.support.redis import RedisServer
from tests.support.servers import ServerProcess, eventually, worker_pids
from tests.support.uploads import MIB, TUS, job, wait_for_job

ASYNC_JSON = {"Prefer": "respond-async", "Accept": "application/json"}
LEASE_SECONDS = 2
# Both instances behind one load balancer: clients name one host, whichever answers.
BALANCED = {"Host": "files.example.test"}


@pytest.fixture
def pair(
    server_factory, sim: MegaSim, redis_db: RedisServer, tmp_path: Path
) -> tuple[ServerProcess, ServerProcess]:
    """Two instances: the same Redis, the same data directory, two ports."""
    sim.reset(nodes=False)
    shared = shared_settings(sim, redis_db, tmp_path, job_lease_seconds=str(LEASE_SECONDS))
    return server_factory(**shared), server_factory(**shared)


def shared_settings(sim: MegaSim, redis: RedisServer, tmp_path: Path, **more: str) -> dict:
    """What the instances of one deployment share: Redis, a data directory, the account;
    no rate limit unless ``more`` sets one."""
    return {
        "data_dir": str(tmp_path / "shared-volume"),
        "redis_url": redis.url,
        "mega_api_url": sim.url,
        "mega_email": V2_EMAIL,
        "mega_password": V2_PASSWORD,
        "rate_limit_uploads": "",
        **more,
    }


def put_async(server: ServerProcess, name: str, content: bytes) -> str:
    reply = requests.put(
        f"{server.url}/upload/{name}", data=content, headers=ASYNC_JSON, timeout=30
    )
    assert reply.status_code == 202, reply.text
    return reply.json()["id"]


def view(server: ServerProcess, job_id: str) -> dict:
    """The job's view as the load balancer's clients ask for it."""
    return job(server, job_id, BALANCED)


def finished(server: ServerProcess, job_id: str, timeout: float = 60) -> dict:
    return wait_for_job(server, job_id, timeout, BALANCED)


def test_status_answers_the_same_on_both(pair: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = pair
    content = os.urandom(MIB + 3)
    job_id = put_async(a, "one.bin", content)
    done = finished(a, job_id)
    assert done["state"] == "done"
    assert view(b, job_id) == done
    assert requests.get(f"{b.url}/status/{job_id}/nope", timeout=5).status_code == 404
    assert done["status_url"] == f"http://{BALANCED['Host']}/status/{job_id}"
    overall = [requests.get(f"{s.url}/status", headers=BALANCED, timeout=10).json() for s in pair]
    assert overall[0] == overall[1]
    assert overall[0]["jobs"]["done"] == 1


def test_tus_upload_started_on_one_finishes_on_the_other(
    pair: tuple[ServerProcess, ServerProcess], sim: MegaSim
) -> None:
    a, b = pair
    content = os.urandom(3 * MIB + 11)
    created = requests.post(
        f"{a.url}/tus/",
        headers={**TUS, "Upload-Length": str(len(content)), "Upload-Metadata": ""},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    path = created.headers["Location"].removeprefix(a.url)
    assert path.startswith("/tus/")

    def patch(server: ServerProcess, offset: int, data: bytes) -> requests.Response:
        return requests.patch(
            f"{server.url}{path}",
            data=data,
            headers={
                **TUS,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
            },
            timeout=30,
        )

    first = patch(a, 0, content[:MIB])
    assert first.status_code == 204, first.text
    assert first.headers["Upload-Offset"] == str(MIB)
    head = requests.head(f"{b.url}{path}", headers=TUS, timeout=10)
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == str(MIB)
    rest = patch(b, MIB, content[MIB:])
    assert rest.status_code == 204, rest.text
    job_id = path.rsplit("/", 1)[1]
    done = finished(b, job_id)
    assert done["state"] == "done"
    assert done["sha256"] == hashlib.sha256(content).hexdigest()
    assert download(sim, done["link"]) == content
    assert view(a, job_id) == done


def test_the_other_instance_takes_over_the_jobs_of_one_sigkilled(
    pair: tuple[ServerProcess, ServerProcess], sim: MegaSim
) -> None:
    """Instance A dies (master and workers SIGKILLed) with three transfers in flight;
    B takes each over once its lease runs out and finishes it."""
    a, b = pair
    contents = {f"in-flight-{n}.bin": os.urandom(2 * MIB + n) for n in range(3)}
    sim.throttle(256 * 1024)  # every transfer takes seconds: they are mid-way when A dies
    ids = {name: put_async(a, name, content) for name, content in contents.items()}

    def in_flight() -> bool:
        """Every job accepted by A and none finished; transfers under way."""
        states = [view(a, job_id)["state"] for job_id in ids.values()]
        return set(states) <= {"queued", "transferring"} and "transferring" in states

    assert eventually(in_flight, timeout=30, interval=0.2), a.logs()[-3000:]
    time.sleep(1)  # a second into transfers that need about 24 s
    before = {job_id: view(a, job_id) for job_id in ids.values()}
    victims = [*worker_pids(a), a.process.pid]
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    a.process.wait(timeout=10)
    sim.throttle(0)

    for name, job_id in ids.items():
        done = finished(b, job_id, timeout=60)
        assert done["state"] == "done", done
        # A transfer under way on A is started again by B; one still queued starts there.
        started = 1 if before[job_id]["state"] == "transferring" else 0
        assert done["attempts"] == before[job_id]["attempts"] + 1 == started + 1
        assert download(sim, done["link"]) == contents[name]
    assert b.logs().count("took over job") == len(ids)


def test_rate_limit_counts_across_both(
    server_factory, sim: MegaSim, redis_db: RedisServer, tmp_path: Path
) -> None:
    shared = shared_settings(sim, redis_db, tmp_path, rate_limit_uploads="3/minute")
    a, b = server_factory(**shared), server_factory(**shared)
    statuses = [
        requests.put(
            f"{server.url}/upload/n{n}.txt", data=b"x", headers=ASYNC_JSON, timeout=30
        ).status_code
        for n, server in enumerate([a, b, a, b, a])
    ]
    # Each instance alone would allow 3; together they allow 3.
    assert statuses == [202, 202, 202, 429, 429]
