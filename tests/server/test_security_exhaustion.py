"""Issue 19, each finding of the outside test as a test on a real gunicorn: no body read
into memory, header numbers in ASCII digits, every token check rate limited, no bearer
secret in the logs, and links that a Host header cannot point elsewhere."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.support.known_secrets import CREATED, TOKEN, WRONG_TOKEN
from tests.support.rawhttp import connect, exchange, read_reply
from tests.support.servers import ServerProcess, eventually, start_server
from tests.support.uploads import MIB, TUS

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def worker_pid(server: ServerProcess) -> int:
    """The one gunicorn worker of a server started with workers=1."""
    master = server.process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    (pid,) = children
    return int(pid)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with start_server(
        tmp_path_factory.mktemp("exhaustion"), workers="1", auth_tokens=TOKEN
    ) as server:
        yield server


def test_an_urlencoded_body_is_refused_unread_and_memory_stays_flat(server) -> None:
    """Was: werkzeug parsed the form into memory (400 MB took a worker from 71 to
    825 MiB). Now 415 naming multipart/form-data, and the worker's RSS stays flat
    while 200 MB are offered."""
    pid = worker_pid(server)
    requests.get(f"{server.url}/status", timeout=5)  # warm the worker up
    before = rss_bytes(pid)
    size = 200 * MIB
    head = (
        f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {size}\r\n\r\n"
    ).encode()
    peak = before
    sock = connect(server.url, timeout=30)
    sent = 0

    def send() -> None:
        nonlocal sent
        block = b"a=" + b"x" * (MIB - 2)
        try:
            sock.sendall(head)
            while sent < size:
                sock.sendall(block)
                sent += len(block)
        except OSError:  # the server answered and closed: what it did not read is gone
            pass

    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_bytes(pid))
            time.sleep(0.01)

    threads = [threading.Thread(target=send), threading.Thread(target=sample)]
    for thread in threads:
        thread.start()
    try:
        reply = read_reply(sock)
        threads[0].join(timeout=60)
    finally:
        done.set()
        sock.close()
        for thread in threads:
            thread.join()
    assert peak - before < 20 * MIB, f"RSS {before / MIB:.0f} -> {peak / MIB:.0f} MiB"
    assert reply.status == 415
    assert reply.json()["error"] == "unsupported_media_type"
    assert "multipart/form-data" in reply.json()["message"]


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "application/json", "text/plain"]
)
def test_post_upload_takes_only_multipart(server, content_type: str) -> None:
    reply = requests.post(
        f"{server.url}/upload",
        data=b"file=abc",
        headers={**AUTH, "Content-Type": content_type},
        timeout=10,
    )
    assert reply.status_code == 415
    assert reply.json()["error"] == "unsupported_media_type"


@pytest.mark.parametrize("value", ["²", "٣", "+5", "5_0", "-1", "0x10", "1" * 20])
def test_upload_length_in_ascii_digits_only(server, value: str) -> None:
    """Was: `Upload-Length: ²` passed str.isdigit(), int() failed: 500."""
    reply = requests.post(
        f"{server.url}/tus/",
        headers={**TUS, **AUTH, "Upload-Length": value.encode()},
        timeout=10,
    )
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"] == "bad_header"
    assert "Upload-Length" in reply.json()["message"]


def test_upload_offset_in_ascii_digits_only(server) -> None:
    created = requests.post(
        f"{server.url}/tus/", headers={**TUS, **AUTH, "Upload-Length": "3"}, timeout=10
    )
    assert created.status_code == 201
    reply = requests.patch(
        created.headers["Location"],
        data=b"abc",
        headers={
            **TUS,
            **AUTH,
            "Upload-Offset": "²".encode(),
            "Content-Type": "application/offset+octet-stream",
        },
        timeout=10,
    )
    assert reply.status_code == 400
    assert "Upload-Offset" in reply.json()["message"]
    assert "Traceback" not in server.logs()


GUESS_LIMIT = 5


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory):
    """One worker, so its in-memory budget is the only one."""
    with start_server(
        tmp_path_factory.mktemp("guesses"),
        workers="1",
        auth_tokens=TOKEN,
        rate_limit_uploads=f"{GUESS_LIMIT}/minute",
        forwarded_allow_ips="127.0.0.1",  # each test guesses from an address of its own
    ) as server:
        yield server


def tus_upload(server: ServerProcess, **headers: str) -> str:
    created = requests.post(
        f"{server.url}/tus/",
        headers={**TUS, **AUTH, "Upload-Length": "4", **headers},
        timeout=10,
    )
    assert created.status_code == 201
    return created.headers["Location"]


GUESSES = {
    "tus PATCH": lambda url, h: requests.patch(
        url,
        data=b"ab",
        headers={**h, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        timeout=10,
    ),
    "tus DELETE": lambda url, h: requests.delete(url, headers=h, timeout=10),
    "tus HEAD": lambda url, h: requests.head(url, headers=h, timeout=10),
}


@pytest.mark.parametrize("how", GUESSES)
def test_wrong_tokens_on_tus_are_rate_limited(limited, how: str) -> None:
    """Was: 150 wrong tokens on PATCH or DELETE /tus/..., 150 x 403."""
    address = {"X-Forwarded-For": f"198.51.100.{list(GUESSES).index(how) + 1}"}
    url = tus_upload(limited)
    wrong = {**TUS, **address, "Authorization": f"Bearer {WRONG_TOKEN}"}
    codes = [GUESSES[how](url, wrong).status_code for _ in range(GUESS_LIMIT + 3)]
    assert codes == [403] * GUESS_LIMIT + [429] * 3
    refused = GUESSES[how](url, {**TUS, **address, **AUTH})
    assert refused.status_code == 429  # the right token, now, tells the guesser nothing
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert GUESSES[how](url, {**TUS, **AUTH}).status_code in (200, 204)  # others unaffected


def test_wrong_tokens_on_put_and_retry_share_the_address_budget(limited) -> None:
    address = {"X-Forwarded-For": "198.51.100.9"}
    wrong = {**address, "Authorization": f"Bearer {WRONG_TOKEN}"}
    attempts = [
        lambda: requests.put(f"{limited.url}/upload/a.txt", data=b"a", headers=wrong, timeout=10),
        lambda: requests.post(f"{limited.url}/status/nope/retry", headers=wrong, timeout=10),
        lambda: requests.patch(f"{limited.url}/tus/nope", headers={**TUS, **wrong}, timeout=10),
    ]
    codes = [attempt() for _ in range(3) for attempt in attempts]
    assert [c.status_code for c in codes] == [403] * GUESS_LIMIT + [429] * 4


def test_no_job_id_key_or_token_in_any_log_line(tmp_path: Path) -> None:
    """Was: full job ids and /files/<key> paths in the request log, and the limiter's
    `token:<first 16 hex of SHA-256(token)>`. Now each is an HMAC reference under the
    install's secret (0600 in the data dir), the same in every line."""
    server = start_server(tmp_path, workers="2", auth_tokens=TOKEN, rate_limit_uploads="4/minute")
    try:
        stored = requests.post(
            f"{server.url}/upload", files={"file": ("a.txt", b"aaa")}, headers=AUTH, timeout=30
        ).json()
        put = requests.put(
            f"{server.url}/upload/b.txt?format=json", data=b"bbb", headers=AUTH, timeout=30
        ).json()
        tus_url = tus_upload(server)
        tus_id = tus_url.rsplit("/", 1)[1]
        keys = [link.rsplit("/", 1)[1] for link in (stored["link"], put["link"])]
        created = [stored["id"], put["id"], tus_id, *keys]
        CREATED.extend(created)
        for url in (
            f"{server.url}/status/{stored['id']}",
            f"{server.url}/files/{keys[0]}",
            f"{server.url}/files/{keys[1]}/more",  # no route: a 404
            tus_url,  # GET: a 405
        ):
            requests.get(url, timeout=10)
        requests.head(tus_url, headers=TUS, timeout=10)
        requests.delete(tus_url, headers={**TUS, **AUTH}, timeout=10)
        requests.post(f"{server.url}/status/{put['id']}/retry", headers=AUTH, timeout=10)
        # Past the token's budget: Flask-Limiter logs the bucket's key.
        while (
            requests.put(f"{server.url}/upload/c.txt", data=b"c", headers=AUTH, timeout=30)
        ).status_code != 429:
            pass
    finally:
        server.stop()

    logs = server.logs()
    assert "exceeded at endpoint" in logs
    secret_file = server.data_dir / "install-secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert hashlib.sha256(TOKEN.encode()).hexdigest()[:8] not in logs
    assert f"token:{server.reference(TOKEN, 16)}" in logs
    assert not [secret for secret in (*created, TOKEN) if secret in logs]
    # Lines still correlate: a job's reference is in its request and transition lines.
    for job_id in (stored["id"], tus_id):
        assert f"/{server.reference(job_id)}" in logs
        assert f'"job_id": "{server.reference(job_id)}"' in logs
    assert f"/files/{server.reference(keys[0])}" in logs


def test_without_a_public_url_only_allowed_hosts_get_links(server_factory) -> None:
    """Was: `Host: evil.example` got `http://evil.example/files/...` in its reply."""
    server = server_factory(allowed_hosts="files.example.com,.example.org")
    evil = requests.put(
        f"{server.url}/upload/a.txt", data=b"a", headers={"Host": "evil.example"}, timeout=10
    )
    assert evil.status_code == 400
    assert evil.json()["error"] == "untrusted_host"
    for host in ("files.example.com:8000", "cdn.example.org"):
        link = requests.put(
            f"{server.url}/upload/a.txt", data=b"a", headers={"Host": host}, timeout=10
        ).text
        assert link.startswith(f"http://{host}/files/")
    assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200  # any Host
    assert "PAIMON_PUBLIC_URL" not in server.logs()  # the start-up advice is not needed


def test_an_unset_host_list_is_advised_against_at_start(server_factory) -> None:
    server = server_factory()
    assert "set PAIMON_PUBLIC_URL (the base of every link) or PAIMON_ALLOWED_HOSTS" in server.logs()
    public = server_factory(public_url="https://files.example.com", allowed_hosts="other.example")
    link = requests.put(
        f"{public.url}/upload/a.txt", data=b"a", headers={"Host": "evil.example"}, timeout=10
    ).text
    assert link.startswith("https://files.example.com/files/")  # the Host decides nothing


@pytest.fixture
def small_disk(tmpfs: Callable[[int], Path]) -> Path:
    """A 64 MiB disk, so the free-space floor is crossed for real."""
    return tmpfs(64)


def floor_server(small_disk: Path, tmp_path: Path, **settings: str) -> ServerProcess:
    """About 40 MiB above a 24 MiB floor, two workers sharing the reservations."""
    return start_server(
        tmp_path, data_dir=str(small_disk / "data"), min_free_bytes="24MiB", **settings
    )


def tus_create(server: ServerProcess, length: int, **headers: str) -> requests.Response:
    return requests.post(
        f"{server.url}/tus/",
        headers={**TUS, "Upload-Length": str(length), "Connection": "close", **headers},
        timeout=10,
    )


def test_tus_creations_reserve_their_length_and_the_floor_holds(small_disk, tmp_path) -> None:
    """Was: six tus uploads created while 200 MB above the floor all completed, 700 MB
    below it. Now only what fits is created (507 for the rest, before any byte), and
    every created upload completes above the floor. (Six clients: one client alone is
    held to its share of the spool, PAIMON_MAX_PENDING_SHARE,
    tests/server/test_security_probes.py.)"""
    server = floor_server(small_disk, tmp_path)
    try:
        replies = [
            tus_create(server, 10 * MIB, **{"X-Forwarded-For": f"198.51.100.{n}"}) for n in range(6)
        ]
        assert [r.status_code for r in replies] == [201] * 3 + [507] * 3
        assert replies[-1].json()["error"] == "server_full"
        # A PUT of 15 MiB would fit on the disk as it is, not beside what was promised.
        put = requests.put(
            f"{server.url}/upload/p.bin", data=b"p" * 15 * MIB, headers={"Connection": "close"}
        )
        assert put.status_code == 507
        for reply in replies[:3]:
            done = requests.patch(
                reply.headers["Location"],
                data=b"t" * 10 * MIB,
                headers={
                    **TUS,
                    "Upload-Offset": "0",
                    "Content-Type": "application/offset+octet-stream",
                },
                timeout=30,
            )
            assert done.status_code == 204
        assert shutil.disk_usage(small_disk).free >= 24 * MIB
        # Landed bytes no longer count as promised: 5 MiB more still fit.
        assert tus_create(server, 5 * MIB).status_code == 201
    finally:
        server.stop()


def test_huge_declared_lengths_and_many_pending_uploads_are_refused(small_disk, tmp_path) -> None:
    """Was: 300 empty tus creations declaring 5 GiB each, all accepted and kept."""
    server = floor_server(small_disk, tmp_path, max_pending_uploads="3")
    try:
        assert [tus_create(server, 5 * 1024**3).status_code for _ in range(5)] == [507] * 5
        codes = [tus_create(server, 1024).status_code for _ in range(5)]
        assert codes == [201] * 3 + [429] * 2
        refused = tus_create(server, 1024)
        assert refused.json()["error"] == "too_many_pending"
        assert "PAIMON_MAX_PENDING_UPLOADS" in refused.json()["message"]
        spool = small_disk / "data" / "spool"
        assert len([p for p in spool.iterdir() if p.name.startswith("up-")]) == 3
    finally:
        server.stop()


@pytest.mark.parametrize("value", ["²".encode("latin-1"), "٣".encode(), b"+3", b"3_0"])
def test_content_length_in_ascii_digits_only(server, value: bytes) -> None:
    reply = exchange(
        server.url,
        b"PUT /upload/a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
        + TOKEN.encode()
        + b"\r\nContent-Length: "
        + value
        + b"\r\n\r\nabc",
    )
    assert reply.status == 400
    assert "Traceback" not in server.logs()


def test_idle_tus_uploads_are_removed_and_free_their_slot(server_factory) -> None:
    """Was: empty tus creations were kept 24 h (PAIMON_RETENTION_HOURS), each holding a
    `receiving` job and a spool file."""
    server = server_factory(tus_idle_hours="0.0005", max_pending_uploads="1")  # 1.8 s
    idle = tus_create(server, 100)
    assert idle.status_code == 201
    assert tus_create(server, 100).status_code == 429  # the one slot is taken
    time.sleep(2.5)
    fresh = tus_create(server, 100)
    assert fresh.status_code == 201  # the idle one was removed first
    spool = server.data_dir / "spool"
    assert len([p for p in spool.iterdir() if p.name.startswith("up-")]) == 1
    assert requests.head(idle.headers["Location"], headers=TUS, timeout=5).status_code == 404


def test_a_chunked_body_stops_at_the_floor(small_disk, tmp_path) -> None:
    """A body without a length reserves nothing; it was checked only as it started and
    could fill the disk down to nothing. Now it is refused (507) as it reaches the floor."""
    server = floor_server(small_disk, tmp_path)
    try:
        body = (b"c" * MIB for _ in range(50))  # a generator: sent chunked
        with contextlib.suppress(requests.ConnectionError):  # refused while still sending
            requests.put(f"{server.url}/upload/c.bin", data=body, timeout=30)

        def put_statuses() -> list[int]:
            lines = map(json.loads, server.logs().splitlines())
            return [r["status"] for r in lines if r.get("method") == "PUT"]

        # The client can see the connection end before the worker writes its log line.
        assert eventually(lambda: put_statuses() != [], timeout=10)
        assert put_statuses() == [507]
        assert shutil.disk_usage(small_disk).free >= 20 * MIB  # the floor, less one check step
        spool = small_disk / "data" / "spool"
        assert [p for p in spool.iterdir() if p.name.startswith("up-")] == []  # nothing kept
    finally:
        server.stop()
