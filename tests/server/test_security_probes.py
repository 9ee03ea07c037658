"""Issue 27: what a hostile tester found in the newest surfaces (download limits, delete
links, the spool, tus, CORS, the Host header), each probed again on a real gunicorn.

1. A suffix range (``Range: bytes=-5000``) sent the whole file uncounted; a used-up
   upload still answered ranges and HEAD until the sweep.
2. A failed upload's reply had no delete link, and its automatic retry could store it.
3. One client's slow bodies, each declaring a large size, held every byte of the spool.
4. Another token could append to, finish, terminate or retry someone's upload.
5. CORS values with a '*' were regular expressions; the allowlist went to every reply.
6. A plain form's delete token was in an address; several files lost their delete
   links as text, and a plain form with several files was answered without a redirect.
7. Concurrent DELETEs of one delete link all answered "deleted".
8. Links followed the Host header in the shipped deployment files, an invalid Host gave
   'http:///files/...', /metrics had no token, /readyz showed the spool's path.
"""

from __future__ import annotations

import json
import os
import re
import select
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from paimon.config import SettingsError, load_settings
from tests.support.known_secrets import CREATED, METRICS_TOKEN, SECOND_TOKEN, TOKEN
from tests.support.megasim import V2_EMAIL, MegaSim
from tests.support.rawhttp import connect, exchange, read_reply, request_bytes
from tests.support.redis import RedisServer
from tests.support.servers import (
    REPO_ROOT,
    ServerProcess,
    clean_environ,
    gunicorn_command,
    start_mega_server,
    start_server,
)
from tests.support.uploads import MIB, TUS, downloads, put_file

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}
ALICE = {"Authorization": f"Bearer {TOKEN}"}
BOB = {"Authorization": f"Bearer {SECOND_TOKEN}"}


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("probes-local"), rate_limit_uploads="")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(
        tmp_path_factory.mktemp("probes-tokens"),
        auth_tokens=f"{TOKEN},{SECOND_TOKEN}",
        metrics_token=METRICS_TOKEN,
        rate_limit_uploads="",
    )
    yield server
    server.stop()


def put(server: ServerProcess, name: str, content: bytes, **headers: str) -> dict:
    """``put_file``, its job id registered for the end-of-run log scan."""
    body = put_file(server, name, content, **headers)
    CREATED.append(body["id"])
    return body


# 1. Downloads: counted from the range actually sent; used up means refused at once.


def test_a_suffix_range_counts_and_a_used_up_link_is_refused_at_once(local) -> None:
    """Was: `curl -r -5000` on a 5000-byte upload with Max-Downloads: 1 answered 206
    with every byte as often as one liked, and /status said downloads: 0."""
    content = os.urandom(5000)
    body = put(local, "once.bin", content, **{"Max-Downloads": "1"})
    whole = requests.get(body["link"], headers={"Range": "bytes=-5000"}, timeout=10)
    assert (whole.status_code, whole.content) == (206, content)
    assert downloads(local, body["id"]) == 1
    # Before the sweep removes the file (up to 10 s): refused at once, every way.
    for how in ({"Range": "bytes=-5000"}, {"Range": "bytes=1-"}, {}):
        again = requests.get(body["link"], headers=how, timeout=10)
        assert (again.status_code, again.json()["error"]) == (410, "gone"), how
    assert requests.head(body["link"], timeout=10).status_code == 410
    assert downloads(local, body["id"]) == 1


def test_a_range_from_byte_one_is_not_counted(local) -> None:
    content = os.urandom(5000)
    body = put(local, "twice.bin", content, **{"Max-Downloads": "2"})
    tail = requests.get(body["link"], headers={"Range": "bytes=1-"}, timeout=10)
    assert (tail.status_code, tail.content) == (206, content[1:])
    first = requests.get(body["link"], headers={"Range": "bytes=0-0"}, timeout=10)
    assert (first.status_code, first.content) == (206, content[:1])
    assert downloads(local, body["id"]) == 1  # only the reply with byte 0


# 2. A failed upload's reply carries its delete link.


def test_a_failed_upload_has_a_delete_link_that_stops_its_retry(sim, tmp_path) -> None:
    """Was: 502 `storage_failed` with an id and no delete link; the automatic retry
    stored the file 22.7 s later, and nothing could delete it on a server without
    tokens."""
    sim.reset()
    server = start_mega_server(tmp_path, sim, job_lease_seconds="3")
    try:
        warm = requests.post(f"{server.url}/upload", files={"file": ("w", b"w")}, timeout=60)
        assert warm.status_code == 200, warm.text
        used = _used_bytes(sim)
        for target in ("api", "upload"):
            sim.fault(target, "http500", count=1_000_000)
        failed = requests.post(
            f"{server.url}/upload",
            files={"file": ("failed.bin", os.urandom(100_000))},
            headers=JSON,
            timeout=60,
        )
        assert failed.status_code == 502, failed.text
        body = failed.json()
        assert (body["error"], body["retryable"]) == ("storage_failed", True)
        assert body["delete_url"] == failed.headers["X-Url-Delete"]
        assert failed.headers["Cache-Control"] == "no-store"
        deleted = requests.delete(body["delete_url"], timeout=30)
        assert (deleted.status_code, deleted.json()["status"]) == (200, "deleted")
        assert not [p for p in (server.data_dir / "spool").iterdir() if p.name.startswith("up-")]
        sim.reset(nodes=False)  # MEGA is back: nothing is left to retry
        time.sleep(6)  # past the first automatic retry (2 to 4 s after the failure)
        gone = requests.get(f"{server.url}/status/{body['id']}", timeout=10)
        assert gone.status_code == 404
        assert _used_bytes(sim) == used

        # The text reply of a failed upload names its delete link too.
        sim.fault("upload", "http500", count=1_000_000)
        text = requests.put(f"{server.url}/upload/t.bin", data=os.urandom(50_000), timeout=60)
        assert text.status_code == 502, text.text
        assert "/delete/" in text.headers["X-Url-Delete"]
        sim.reset(nodes=False)
    finally:
        server.stop()


def _used_bytes(sim: MegaSim) -> int:
    return next(a["used_bytes"] for a in sim.state()["accounts"] if a.get("email") == V2_EMAIL)


# 3. One client holds at most its share of the spool.


def hold_put(server: ServerProcess, address: str, length: int) -> socket.socket:
    """A PUT whose head declares ``length`` bytes and whose body then trickles (one
    KiB sent, the rest never), from ``address`` (the trusted X-Forwarded-For)."""
    sock = connect(server.url)
    head = request_bytes(
        "PUT",
        f"/upload/held-{length}.bin",
        headers={"Content-Length": str(length), "X-Forwarded-For": address},
    )
    sock.sendall(head + b"h" * 1024)
    return sock


def reservations_of(server: ServerProcess, address: str) -> int:
    """How many reservations the ledger holds for ``address`` (reservations.py, in the
    data directory the server was given)."""
    ledger = Path(server.env["PAIMON_DATA_DIR"]) / "reservations.json"
    try:  # read without the ledger's lock: a write may be half-way, then look again
        entries = json.loads(ledger.read_text() or "{}").values()
    except (FileNotFoundError, json.JSONDecodeError):
        return 0
    return sum(owner == f"addr:{address}" for _, owner in entries)


def outcome(server: ServerProcess, sock: socket.socket, address: str, held: int) -> int | None:
    """The status the server answered on ``sock``, or None once the request holds a
    reservation (more than ``held`` for ``address``) and its body is being read."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if select.select([sock], [], [], 0.05)[0]:
            sock.settimeout(10)
            return read_reply(sock).status
        if reservations_of(server, address) > held:
            return None
    raise AssertionError("neither answered nor reserved")


def test_one_client_cannot_hold_the_spool(tmpfs: Callable[[int], Path], tmp_path) -> None:
    """Was: 15 slow PUTs from one address, each declaring its size, reserved every
    byte above the floor, and every other client got 507 while /readyz said 200."""
    disk = tmpfs(64)
    server = start_server(tmp_path, data_dir=str(disk / "data"), min_free_bytes="24MiB")
    held: list[socket.socket] = []
    try:
        attacker = "203.0.113.66"
        statuses = []
        for _ in range(4):  # one after the other: each answered or holding first
            held.append(hold_put(server, attacker, 12 * MIB))
            statuses.append(outcome(server, held[-1], attacker, statuses.count(None)))
        # The first holds its 12 MiB; the next would pass half of the ~40 MiB left.
        assert statuses == [None, 429, 429, 429]
        refused = hold_put(server, attacker, 10 * MIB)
        refused.settimeout(10)
        reply = read_reply(refused)
        assert reply.json()["error"] == "too_many_pending_bytes"
        assert "PAIMON_MAX_PENDING_SHARE" in reply.json()["message"]
        refused.close()
        # Other clients still have room: a PUT and a tus creation of 10 MiB each.
        other = {"X-Forwarded-For": "203.0.113.7", "Accept": "application/json"}
        stored = requests.put(
            f"{server.url}/upload/other.bin", data=b"o" * 10 * MIB, headers=other, timeout=60
        )
        assert stored.status_code == 200, stored.text
        created = requests.post(
            f"{server.url}/tus/",
            headers={**TUS, "Upload-Length": str(10 * MIB), "X-Forwarded-For": "203.0.113.8"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        assert requests.get(f"{server.url}/readyz", timeout=10).status_code == 200
    finally:
        for sock in held:
            sock.close()
        server.stop()


# 4. One owner check on every route that changes an upload.


def test_another_token_cannot_change_an_upload(tokens) -> None:
    """Was: with tokens A and B, B could append to, complete or terminate A's tus
    upload, and its retry answered about A's job, knowing only the id."""
    created = requests.post(
        f"{tokens.url}/tus/", headers={**TUS, **ALICE, "Upload-Length": "10"}, timeout=10
    )
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    job_id = location.rsplit("/", 1)[1]
    CREATED.append(job_id)
    chunk = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    for refused in (
        requests.patch(location, data=b"hello", headers={**chunk, **BOB}, timeout=10),
        requests.delete(location, headers={**TUS, **BOB}, timeout=10),
        requests.post(f"{tokens.url}/status/{job_id}/retry", headers=BOB, timeout=10),
        requests.delete(f"{tokens.url}/status/{job_id}", headers=BOB, timeout=10),
    ):
        assert refused.status_code == 404, (refused.request.method, refused.status_code)
        assert refused.json()["error"] == "not_found"
    head = requests.head(location, headers={**TUS, **ALICE}, timeout=10)
    assert head.headers["Upload-Offset"] == "0"  # nothing of B's was appended
    own_retry = requests.post(f"{tokens.url}/status/{job_id}/retry", headers=ALICE, timeout=10)
    assert (own_retry.status_code, own_retry.json()["error"]) == (409, "not_failed")
    patched = requests.patch(location, data=b"0123456789", headers={**chunk, **ALICE}, timeout=10)
    assert patched.status_code == 204, patched.text


# 5. CORS: exact origins, checked at start; nothing sent without an Origin.


@pytest.mark.parametrize(
    "value",
    ["https://*.example.com", "*", r"^https://app\.example\.com$", "https://app.example.com/x"],
)
def test_a_cors_pattern_is_refused_at_start(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PAIMON_CORS_ORIGINS", f"https://ok.example.com,{value}")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    (line,) = caught.value.lines
    assert line.startswith("PAIMON_CORS_ORIGINS: "), line
    assert "wildcards are not supported" in line or "is not an exact origin" in line


def test_cors_origins_are_spelt_as_browsers_send_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAIMON_CORS_ORIGINS", "HTTPS://App.Example.com:443/, http://[::1]:8080")
    assert load_settings().cors_origins == ["https://app.example.com", "http://[::1]:8080"]


def test_a_cors_wildcard_stops_gunicorn_with_one_line(tmp_path: Path) -> None:
    env = clean_environ() | {
        "PYTHONPATH": str(REPO_ROOT),
        "PAIMON_CORS_ORIGINS": "https://*.example.com",
    }
    result = subprocess.run(
        gunicorn_command(), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("paimon: bad setting PAIMON_CORS_ORIGINS: 'https://*.example.com'")


def test_cors_headers_only_for_an_origin_and_always_vary(server_factory) -> None:
    """Was: Access-Control-Allow-Origin on every reply, with or without Origin (the
    allowlist, to anyone who asks), and no `Vary: Origin` with a single origin."""
    server = server_factory(cors_origins="https://app.example.com")
    plain = requests.get(f"{server.url}/status", timeout=10)
    assert not [name for name in plain.headers if name.lower().startswith("access-control-")]
    assert "Origin" in plain.headers["Vary"]
    allowed = requests.get(
        f"{server.url}/status", headers={"Origin": "https://app.example.com"}, timeout=10
    )
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Origin" in allowed.headers["Vary"]
    for other in ("https://app.example.com.evil.net", "https://xapp.example.com"):
        refused = requests.get(f"{server.url}/status", headers={"Origin": other}, timeout=10)
        assert "Access-Control-Allow-Origin" not in refused.headers
        assert "Origin" in refused.headers["Vary"]


# 6. Delete tokens stay out of addresses; every reply with a job id has its delete link.


def post_form(server: ServerProcess, files: list[tuple[str, bytes]]) -> str:
    """What a browser's plain form does: the redirect's address (303)."""
    posted = requests.post(
        f"{server.url}/upload",
        files=[("file", file) for file in files],
        headers=HTML,
        allow_redirects=False,
        timeout=30,
    )
    assert posted.status_code == 303, posted.text
    return posted.headers["Location"]


def test_a_plain_form_shows_its_delete_link_once_with_no_token_in_any_address(local) -> None:
    """Was: 303 to /status/<id>?delete=<token>, a page that reloaded itself every 2 s
    without Cache-Control: no-store: the capability went into history and logs."""
    location = post_form(local, [("form.txt", b"from a form")])
    assert "delete" not in location
    page = requests.get(f"{local.url}{location}", headers=HTML, timeout=10)
    assert page.headers["Cache-Control"] == "no-store"
    assert 'http-equiv="refresh"' not in page.text
    (delete_url,) = re.findall(r'id="delete-link" href="([^"]+)"', page.text)
    token = urlsplit(delete_url).path.rsplit("/", 1)[1]
    CREATED.append(token)
    assert token not in location
    # Once: a reload, a second tab or a JSON client gets the page without it.
    again = requests.get(f"{local.url}{location}", headers=HTML, timeout=10)
    assert "delete-link" not in again.text
    as_json = requests.get(f"{local.url}{location}", headers=JSON, timeout=10)
    assert "delete_url" not in as_json.json()
    # The earlier address form, with the token itself, no longer shows it either.
    bare = location.split("?")[0]
    with_token = requests.get(f"{local.url}{bare}?delete={token}", headers=JSON, timeout=10)
    assert "delete_url" not in with_token.json()
    assert requests.delete(delete_url, timeout=10).status_code == 200


def test_a_json_client_on_the_redirect_gets_the_link_once(local) -> None:
    location = f"{local.url}{post_form(local, [('j.txt', b'j')])}"
    first = requests.get(location, headers=JSON, timeout=10)
    assert first.headers["Cache-Control"] == "no-store"
    assert "/delete/" in first.json()["delete_url"]
    assert "delete_url" not in requests.get(location, headers=JSON, timeout=10).json()


def test_several_files_from_a_plain_form_are_redirected(local) -> None:
    """Was: 200 with the page itself, so a reload posted the files again."""
    location = post_form(local, [(f"{n}.txt", f"file {n}".encode()) for n in range(3)])
    assert urlsplit(location).path == "/uploaded"
    assert len(parse_qs(urlsplit(location).query)["id"]) == 3
    page = requests.get(f"{local.url}{location}", headers=HTML, timeout=10)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    delete_urls = re.findall(r'class="delete-link" href="([^"]+)"', page.text)
    assert len(delete_urls) == 3
    assert all(urlsplit(url).path.rsplit("/", 1)[1] not in location for url in delete_urls)
    reloaded = requests.get(f"{local.url}{location}", headers=HTML, timeout=10)
    assert "delete-link" not in reloaded.text
    assert reloaded.text.count("was shown once") == 3
    assert [requests.delete(url, timeout=10).status_code for url in delete_urls] == [200] * 3


def test_several_files_as_text_keep_their_delete_links(local) -> None:
    """Was: `?format=text` with several files answered the links and no delete link."""
    files = [("file", (f"t{n}.txt", f"text {n}".encode())) for n in range(2)]
    reply = requests.post(f"{local.url}/upload?format=text", files=files, timeout=30)
    assert reply.status_code == 200, reply.text
    links = reply.text.splitlines()
    assert len(links) == 2
    delete_urls = reply.raw.headers.getlist("X-Url-Delete")
    assert len(delete_urls) == 2
    assert reply.headers["Cache-Control"] == "no-store"
    for link, delete_url in zip(links, delete_urls, strict=True):
        assert requests.get(link, timeout=10).status_code == 200
        assert requests.delete(delete_url, timeout=10).status_code == 200
        assert requests.get(link, timeout=10).status_code == 404
    as_json = requests.post(f"{local.url}/upload", files=files, timeout=30)
    entries = as_json.json()["files"]
    assert as_json.raw.headers.getlist("X-Url-Delete") == [e["delete_url"] for e in entries]


# 7. Exactly one of several simultaneous DELETEs of one link deletes.


def race_deletes(urls_of: Callable[[str], list[str]], upload: Callable[[], str]) -> list[int]:
    """Upload once, then DELETE its link from every racer at the same moment: the status
    codes, sorted."""
    delete_url = upload()
    urls = urls_of(delete_url)
    start = threading.Barrier(len(urls))
    sessions = [requests.Session() for _ in urls]

    def delete(index: int) -> int:
        start.wait(timeout=30)
        return sessions[index].delete(urls[index], timeout=30).status_code

    with ThreadPoolExecutor(len(urls)) as pool:
        codes = sorted(pool.map(delete, range(len(urls))))
    for session in sessions:
        session.close()
    return codes


RACERS = 6
ROUNDS = 12


def test_one_of_simultaneous_deletes_wins_sqlite(local) -> None:
    """Was: four simultaneous DELETEs all answered 200 "deleted" in 16 of 30 rounds."""

    def upload() -> str:
        return put(local, "race.bin", os.urandom(1000))["delete_url"]

    for _ in range(ROUNDS):
        codes = race_deletes(lambda url: [url] * RACERS, upload)
        assert codes == [200] + [404] * (RACERS - 1)


def test_one_of_simultaneous_deletes_wins_across_redis_instances(
    server_factory, redis_db: RedisServer, tmp_path: Path
) -> None:
    """Was: 12 of 15 rounds with more than one 200 across two instances."""
    shared = {
        "data_dir": str(tmp_path / "shared"),
        "redis_url": redis_db.url,
        "rate_limit_uploads": "",
    }
    first, second = server_factory(**shared), server_factory(**shared)

    def upload() -> str:
        return put(first, "race.bin", os.urandom(1000))["delete_url"]

    def both(url: str) -> list[str]:
        path = urlsplit(url).path
        return [f"{(first, second)[n % 2].url}{path}" for n in range(RACERS)]

    for _ in range(ROUNDS):
        assert race_deletes(both, upload) == [200] + [404] * (RACERS - 1)


# 8. Links, the Host header, metrics and readiness.


def test_an_invalid_host_is_refused_before_the_body(local) -> None:
    """Was: `Host: exa mple.com` answered with links to 'http:///files/...'."""
    for host in ("exa mple.com", "a<b>", "evil.com/x", "under_score.example"):
        reply = exchange(local.url, request_bytes("PUT", "/upload/h.txt", b"hi", {"Host": host}))
        assert (reply.status, reply.json()["error"]) == (400, "invalid_host"), host
    healthy = exchange(local.url, request_bytes("GET", "/healthz", headers={"Host": "a b"}))
    assert healthy.status == 200  # platforms' probes answer whatever they send
    fine = exchange(local.url, request_bytes("PUT", "/upload/h.txt?format=json", b"hi"))
    assert fine.json()["link"].startswith("http://127.0.0.1/files/")


def test_metrics_can_require_a_token(tokens) -> None:
    url = f"{tokens.url}/metrics"
    missing = requests.get(url, timeout=10)
    assert (missing.status_code, missing.json()["error"]) == (401, "token_required")
    assert "PAIMON_METRICS_TOKEN" in missing.json()["message"]
    for wrong in (ALICE, {"Authorization": "Bearer nope"}):  # an upload token is not it
        assert requests.get(url, headers=wrong, timeout=10).status_code == 403
    scraped = requests.get(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
    assert scraped.status_code == 200
    assert 'paimon_jobs{state="done"}' in scraped.text  # a gauge every scrape carries


def test_readyz_does_not_show_where_the_data_is(local) -> None:
    reply = requests.get(f"{local.url}/readyz", timeout=10)
    assert reply.status_code == 200
    assert str(local.data_dir) not in reply.text
    assert reply.json()["checks"]["spool"]["detail"].startswith("the spool writable")


def test_render_sets_the_public_url_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """render.yaml asks for PAIMON_PUBLIC_URL; left empty, Render's own URL is taken."""
    monkeypatch.setenv("RENDER_EXTERNAL_URL", "https://paimon-x1.onrender.com")
    assert load_settings().public_url == "https://paimon-x1.onrender.com"
    monkeypatch.setenv("PAIMON_PUBLIC_URL", "")  # a `sync: false` left blank
    assert load_settings().public_url == "https://paimon-x1.onrender.com"
    monkeypatch.delenv("RENDER_EXTERNAL_URL")
    assert load_settings().public_url is None  # elsewhere: blank is unset
    monkeypatch.setenv("PAIMON_PUBLIC_URL", "https://files.example.com/")
    assert load_settings().public_url == "https://files.example.com"
