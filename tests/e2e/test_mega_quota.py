"""Quota awareness on the MEGA path (issue 31, item 3), against the emulator's quota: the
account's free space kept current after transfers and deletes, what uploads under way
were promised counted, and an upload that cannot fit refused before its body."""

from __future__ import annotations

import os
import re

import pytest
import requests

from tests.support.console import sign_in
from tests.support.known_secrets import ADMIN_TOKEN
from tests.support.megasim import V2_EMAIL, MegaSim
from tests.support.rawhttp import connect, read_reply, request_bytes
from tests.support.servers import ServerProcess, start_mega_server
from tests.support.uploads import TUS, put_file, tus_create

DEFAULT_QUOTA = 50 * 1024**3
ROOM = 400_000  # what the account has left, above what it holds


def used_bytes(sim: MegaSim) -> int:
    return next(a["used_bytes"] for a in sim.state()["accounts"] if a.get("email") == V2_EMAIL)


@pytest.fixture
def server(sim: MegaSim, tmp_path) -> ServerProcess:
    sim.reset(nodes=True, quotas=True)
    with start_mega_server(
        tmp_path, sim, storage_min_free_bytes="1MiB", admin_tokens=f"owner={ADMIN_TOKEN}"
    ) as started:
        yield started
    sim.set_quota(V2_EMAIL, DEFAULT_QUOTA)


def refused_before_body(server: ServerProcess, length: int) -> dict:
    """A PUT announcing ``length`` bytes, of which none is sent: the reply comes anyway."""
    with connect(server.url) as sock:
        sock.sendall(
            request_bytes("PUT", "/upload/big.bin", headers={"Content-Length": str(length)})
        )
        reply = read_reply(sock)
    assert reply.status == 507, reply.body
    return reply.json()


def test_an_upload_that_cannot_fit_is_refused_before_its_body(
    sim: MegaSim, server: ServerProcess
) -> None:
    put_file(server, "warm.bin", b"w" * 1000)
    sim.set_quota(V2_EMAIL, used_bytes(sim) + ROOM)  # another client filled the account
    # A transfer's end asks MEGA again: the next admission knows the new quota.
    put_file(server, "small.bin", os.urandom(1000))
    quota = used_bytes(sim) + ROOM - 1000
    status = requests.get(f"{server.url}/status", timeout=10).json()["storage_usage"]
    assert status["total_bytes"] == quota
    assert status["used_bytes"] == used_bytes(sim)
    assert status["free_bytes"] == ROOM - 1000
    assert status["promised_bytes"] == 0

    body = refused_before_body(server, ROOM)
    assert body["error"] == "storage_full"
    assert body["free_bytes"] == ROOM - 1000
    assert f"{ROOM - 1000:,} bytes" in body["message"]
    assert "nothing of it was received" in body["message"]
    tus = tus_create(server, ROOM)
    assert tus.status_code == 507
    assert tus.json()["error"] == "storage_full"
    multipart = requests.post(
        f"{server.url}/upload", files={"file": ("f.bin", os.urandom(ROOM))}, timeout=30
    )
    assert multipart.status_code == 507
    assert multipart.json()["error"] == "storage_full"
    assert "id" not in multipart.json()  # no job: refused before its body
    assert list((server.data_dir / "spool").iterdir()) == []

    # A tus upload under way is promised its length: what is left is less by it.
    promised = tus_create(server, 300_000)
    assert promised.status_code == 201, promised.text
    status = requests.get(f"{server.url}/status", timeout=10).json()["storage_usage"]
    assert status["promised_bytes"] == 300_000
    assert status["free_bytes"] == ROOM - 1000 - 300_000
    assert refused_before_body(server, 150_000)["free_bytes"] == ROOM - 1000 - 300_000
    terminated = requests.delete(promised.headers["Location"], headers=TUS, timeout=10)
    assert terminated.status_code == 204
    status = requests.get(f"{server.url}/status", timeout=10).json()["storage_usage"]
    assert status["promised_bytes"] == 0

    ready = requests.get(f"{server.url}/readyz", timeout=10)
    assert ready.status_code == 200  # uploads that fit still go in
    assert ready.json()["degraded"] == ["storage_space"]
    assert (
        "below PAIMON_STORAGE_MIN_FREE_BYTES" in ready.json()["checks"]["storage_space"]["detail"]
    )
    metrics = requests.get(f"{server.url}/metrics", timeout=10).text
    assert f'paimon_storage_space_bytes{{kind="total"}} {float(quota)}' in metrics
    assert re.search(r'paimon_storage_space_bytes\{kind="free"\} \d', metrics)
    console = requests.Session()
    sign_in(console, server.url, ADMIN_TOKEN)
    page = console.get(f"{server.url}/admin", timeout=10).text
    assert 'id="account-free"' in page
    assert "promised to uploads under way" in page
    api = requests.get(
        f"{server.url}/api/totals", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
    ).json()
    assert api["storage"]["space"]["free_bytes"] == ROOM - 1000


def test_a_delete_gives_the_space_back_at_once(sim: MegaSim, server: ServerProcess) -> None:
    stored = put_file(server, "fills.bin", os.urandom(300_000))
    sim.set_quota(V2_EMAIL, used_bytes(sim) + 100_000)
    put_file(server, "tiny.bin", b"t")  # its transfer's end: the new quota is known
    assert refused_before_body(server, 200_000)["error"] == "storage_full"
    deleted = requests.delete(stored["delete_url"], timeout=30)
    assert deleted.status_code == 200, deleted.text
    status = requests.get(f"{server.url}/status", timeout=10).json()["storage_usage"]
    assert status["free_bytes"] >= 300_000
    assert put_file(server, "fits.bin", os.urandom(200_000))["status"] == "success"
