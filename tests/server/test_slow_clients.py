"""Issue 18: hundreds of slow clients at once, on a real gunicorn with default settings.

Slow uploads hold a thread each but never the threads health, status and a normal
upload need; idle connections hold none; heads that never end are cut with 408; one
client cannot take every upload slot (429) and the server says when it is full (503),
both before the body is read. Bounded: at most 1,200 sockets, all to 127.0.0.1, and
each test ends within a minute. The figures (500 and 1,000 slow uploads, latency
percentiles, memory) come from ``scripts/bench``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from paimon.server.worker import raise_open_files_limit
from paimon_devtools.slowclients import SlowUploads, connect, slots_in_use
from tests.support.rawhttp import RawReply, read_reply, request_bytes
from tests.support.servers import ServerProcess, eventually, start_server
from tests.support.uploads import MIB

#: Generous for a shared CI machine; docs/benchmarks.md has the real percentiles.
ANSWER_WITHIN_SECONDS = 1.0


@pytest.fixture(scope="module", autouse=True)
def _enough_file_descriptors() -> None:
    raise_open_files_limit(4096)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Default settings: no limits set, two workers (as a 2-CPU machine chooses)."""
    with start_server(tmp_path_factory.mktemp("slow-clients")) as server:
        yield server


def answer_times(url: str, paths: list[str]) -> dict[str, float]:
    """Seconds each GET took, on a new connection each (as a health checker does)."""
    times = {}
    for path in paths:
        start = time.perf_counter()
        reply = requests.get(f"{url}{path}", timeout=10, headers={"Connection": "close"})
        times[path] = time.perf_counter() - start
        assert reply.status_code == 200, (path, reply.status_code, reply.text)
    return times


def assert_normal_upload_works(url: str, size: int = 8 * MIB) -> None:
    body = hashlib.sha256(b"normal").digest() * (size // 32)
    reply = requests.put(
        f"{url}/upload/normal.bin", data=body, headers={"Accept": "application/json"}, timeout=60
    )
    assert reply.status_code == 200, reply.text
    assert requests.get(reply.json()["link"], timeout=60).content == body


def spool_files(server: ServerProcess) -> list[Path]:
    return [p for p in (server.data_dir / "spool").glob("*") if p.is_file()]


def test_200_slow_uploads_leave_health_status_and_a_normal_upload_answering(server) -> None:
    crowd = SlowUploads(server.url, 200).start()  # 2 KiB/s each, a phone on a bad link
    try:
        assert eventually(lambda: slots_in_use(server.url) == 200, timeout=30), (
            f"{slots_in_use(server.url)} of 200 slow uploads held, {crowd.refused()} refused"
        )
        for _ in range(5):
            times = answer_times(server.url, ["/healthz", "/readyz", "/status", "/metrics"])
            assert max(times.values()) < ANSWER_WITHIN_SECONDS, times
        assert_normal_upload_works(server.url)
        # The slow ones are real uploads: one sent to its end is stored whole.
        status, body = crowd.finish(0)
        assert status == 200, body
        link = json.loads(body)["link"] if body.startswith(b"{") else body.decode().strip()
        assert requests.get(link, timeout=30).content == b"x" * crowd.size
        assert crowd.refused() == 1  # the finished one; none of the others was answered
    finally:
        crowd.close()
    # The clients that went away gave their slots back and left no spool file.
    assert eventually(lambda: slots_in_use(server.url) == 0, timeout=30)
    assert eventually(lambda: not spool_files(server), timeout=30), spool_files(server)


def test_silent_connections_cost_no_thread_and_dragged_heads_get_408(server) -> None:
    """1,000 connections that send nothing and 200 that send a head a line every 15 s:
    health and a normal upload are answered meanwhile; after the header timeout (10 s
    by default) the head-droppers get 408 and the silent ones are closed."""
    silent = [connect(server.url, timeout=30) for _ in range(1000)]
    droppers = [connect(server.url, timeout=30) for _ in range(200)]
    try:
        started = time.monotonic()
        for sock in droppers:
            sock.sendall(b"PUT /upload/dragged.bin HTTP/1.1\r\n")
        time.sleep(1)
        times = answer_times(server.url, ["/healthz", "/status"] * 5)
        assert max(times.values()) < ANSWER_WITHIN_SECONDS, times
        assert_normal_upload_works(server.url)
        time.sleep(max(0.0, started + 5 - time.monotonic()))
        for sock in droppers:
            sock.sendall(b"Host: 127.0.0.1\r\n")  # a line more does not move the deadline
        replies = [read_reply(sock) for sock in droppers]
        waited = time.monotonic() - started
        assert {reply.status for reply in replies} == {408}
        assert replies[0].json()["error"] == "request_head_timeout"
        assert "within 10 s" in replies[0].json()["message"]
        assert 9 < waited < 30, waited
        closed = sum(1 for sock in silent if sock.recv(1) == b"")
        assert closed == len(silent)
        # On time: closing the 200 answered heads (gunicorn lingers up to 2 s on each
        # for the client to close first) did not hold up the worker's event loop.
        assert time.monotonic() - started < 20
    finally:
        for sock in silent + droppers:
            sock.close()
    assert answer_times(server.url, ["/healthz"])["/healthz"] < ANSWER_WITHIN_SECONDS


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One worker, 3 upload slots, 2 per client, and three tokens: three clients."""
    with start_server(
        tmp_path_factory.mktemp("upload-slots"),
        workers="1",
        max_concurrent_uploads="3",
        max_uploads_per_client="2",
        auth_tokens="slot-token-one,slot-token-two,slot-token-three",
    ) as server:
        yield server


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refusal_before_body(url: str, headers: dict[str, str]) -> RawReply:
    """A PUT announcing 10 MiB that sends only its head: the reply must come anyway."""
    head = request_bytes(
        "PUT", "/upload/more.bin", headers={**headers, "Content-Length": str(10 * MIB)}
    )
    with connect(url, timeout=10) as sock:
        sock.sendall(head)
        return read_reply(sock)


def test_one_client_gets_429_and_a_full_server_503_before_the_body(limited) -> None:
    one = SlowUploads(limited.url, 2, headers=bearer("slot-token-one")).start()
    two = SlowUploads(limited.url, 1, headers=bearer("slot-token-two")).start()
    try:
        assert eventually(lambda: slots_in_use(limited.url) == 3, timeout=30)
        refused = refusal_before_body(limited.url, bearer("slot-token-one"))
        assert (refused.status, refused.json()["error"]) == (429, "too_many_uploads")
        assert int(refused.headers["retry-after"]) > 0
        assert "2 uploads at once" in refused.json()["message"]
        # Another client still has its own share, but every slot is taken now.
        refused = refusal_before_body(limited.url, bearer("slot-token-three"))
        assert (refused.status, refused.json()["error"]) == (503, "server_busy")
        assert int(refused.headers["retry-after"]) > 0
        assert answer_times(limited.url, ["/healthz"])["/healthz"] < ANSWER_WITHIN_SECONDS
        # A slot given back is a slot taken again.
        status, _ = one.finish(0)
        assert status == 200
        assert eventually(lambda: slots_in_use(limited.url) == 2, timeout=10)
        reply = requests.put(
            f"{limited.url}/upload/after.bin",
            data=b"room again",
            headers=bearer("slot-token-three"),
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
    finally:
        one.close()
        two.close()
    assert eventually(lambda: slots_in_use(limited.url) == 0, timeout=30)


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One worker, one body per client; 127.0.0.1 is a trusted proxy (the default)."""
    with start_server(
        tmp_path_factory.mktemp("upload-slots-proxy"), workers="1", max_uploads_per_client="1"
    ) as server:
        yield server


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(behind_proxy) -> None:
    """Every request comes from the proxy's address; each client's share is counted by
    the address the proxy forwards, as the rate limiter counts it."""
    first = SlowUploads(
        behind_proxy.url, 1, headers={"X-Forwarded-For": "203.0.113.7"}, same_client=True
    ).start()
    try:
        assert eventually(lambda: slots_in_use(behind_proxy.url) == 1, timeout=30)
        reply = refusal_before_body(behind_proxy.url, {"X-Forwarded-For": "203.0.113.7"})
        assert (reply.status, reply.json()["error"]) == (429, "too_many_uploads")
        other = requests.put(
            f"{behind_proxy.url}/upload/other.bin",
            data=b"another client",
            headers={"X-Forwarded-For": "203.0.113.8"},
            timeout=30,
        )
        assert other.status_code == 200, other.text
    finally:
        first.close()
