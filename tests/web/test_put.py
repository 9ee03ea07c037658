"""PUT /upload/<name> with the real curl binary: the link as plain text, JSON on request,
respond-async, tokens, honest failures, and a body cut short leaving nothing behind."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from tests.support.rawhttp import connect, read_replies, request_bytes
from tests.support.servers import ServerProcess


def curl(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    """Run curl; its status code, response headers and body."""
    out = subprocess.run(
        ["curl", "-sS", "-D", "-", "-w", "\n%{http_code}", *args],
        input=stdin,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    head, _, rest = out.rpartition("\r\n\r\n")
    body, _, status = rest.rpartition("\n")
    return int(status), head, body


def fetch(link: str) -> bytes:
    return requests.get(link, timeout=30).content


@pytest.mark.parametrize("size", [0, 1, 3 * 1024 * 1024 + 7])
def test_curl_put_answers_the_link_as_plain_text(
    local_server: ServerProcess, tmp_path: Path, size: int
) -> None:
    source = tmp_path / "holiday photo.jpg"
    source.write_bytes(os.urandom(size))
    # curl -T file URL/ appends the file's name, URL-encoded.
    status, head, body = curl("-T", str(source), f"{local_server.url}/upload/")
    assert status == 200, body
    assert "content-type: text/plain; charset=utf-8" in head.lower()
    link = body.removesuffix("\n")
    assert body == f"{link}\n"
    assert link.startswith(f"{local_server.url}/files/")
    assert fetch(link) == source.read_bytes()
    disposition = requests.head(link, timeout=5).headers["Content-Disposition"]
    assert disposition == 'attachment; filename="holiday photo.jpg"'


def test_chunked_body_from_stdin(local_server: ServerProcess) -> None:
    content = os.urandom(5 * 1024 * 1024 + 11)
    status, _, body = curl("-T", "-", f"{local_server.url}/upload/piped.bin", stdin=content)
    assert status == 200, body
    assert fetch(body.strip()) == content


@pytest.mark.parametrize(
    ("args", "query"),
    [(["-H", "Accept: application/json"], ""), ([], "?format=json")],
)
def test_json_on_request_is_the_multipart_reply(
    local_server: ServerProcess, tmp_path: Path, args: list[str], query: str
) -> None:
    source = tmp_path / "data.csv"
    source.write_bytes(b"a,b\n1,2\n")
    status, _, body = curl(*args, "-T", str(source), f"{local_server.url}/upload/{query}")
    assert status == 200
    reply = json.loads(body)
    assert reply["status"] == "success"
    assert reply["filename"] == "data.csv"
    assert reply["service"] == "local"
    assert reply["size"] == 8
    assert reply["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert fetch(reply["link"]) == source.read_bytes()
    multipart = requests.post(
        f"{local_server.url}/upload", files={"file": ("data.csv", source.read_bytes())}, timeout=10
    ).json()
    assert set(reply) == set(multipart)


@pytest.mark.parametrize("accept", ["*/*", "application/json"])
def test_respond_async_gives_202_and_the_status_url(
    local_server: ServerProcess, tmp_path: Path, accept: str
) -> None:
    source = tmp_path / "later.bin"
    source.write_bytes(os.urandom(200_000))
    status, head, body = curl(
        "-H", "Prefer: respond-async", "-H", f"Accept: {accept}",
        "-T", str(source), f"{local_server.url}/upload/",
    )  # fmt: skip
    assert status == 202
    (location,) = [
        line[len("location: ") :]
        for line in head.splitlines()
        if line.lower().startswith("location: ")
    ]
    assert location.startswith("/status/")
    status_url = json.loads(body)["status_url"] if accept == "application/json" else body.strip()
    assert status_url == f"{local_server.url}{location}"
    for _ in range(100):
        view = requests.get(status_url, timeout=5).json()
        if view["state"] == "done":
            break
        time.sleep(0.1)
    assert view["state"] == "done"
    assert fetch(view["link"]) == source.read_bytes()


def test_token_required_for_put(server_factory, tmp_path: Path) -> None:
    server = server_factory(auth_tokens="put-token")
    source = tmp_path / "t.txt"
    source.write_bytes(b"token")
    status, _, body = curl("-T", str(source), f"{server.url}/upload/")
    assert status == 401
    assert json.loads(body)["error"] == "token_required"
    status, _, body = curl(
        "-H", "Authorization: Bearer put-token", "-T", str(source), f"{server.url}/upload/"
    )
    assert status == 200
    assert fetch(body.strip()) == b"token"


def test_too_large_is_413_before_the_body(server_factory, tmp_path: Path) -> None:
    server = server_factory(max_upload_bytes="1000")
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(5000))
    status, _, body = curl("-T", str(source), f"{server.url}/upload/")
    assert status == 413
    assert json.loads(body)["error"] == "too_large"
    spool = server.data_dir / "spool"
    assert not spool.exists() or list(spool.iterdir()) == []


@pytest.mark.parametrize("first_size", [10, 3 * 1024 * 1024 + 3], ids=["small", "3 MiB"])
def test_pipelined_puts_on_one_connection(local_server: ServerProcess, first_size: int) -> None:
    """Two PUTs sent back to back before any reply: the first body is read straight
    from the socket (paimon/server/socketbody.py) and must end exactly where the second
    request starts, which gunicorn then parses and serves on the same connection."""
    contents = [os.urandom(first_size), os.urandom(70_000)]
    raw = b"".join(
        request_bytes(
            "PUT",
            f"/upload/piece{number}.bin?format=json",
            content,
            {"Host": urlsplit(local_server.url).netloc},  # the links name this server
        )
        for number, content in enumerate(contents)
    )
    with connect(local_server.url, timeout=30) as sock:
        sock.sendall(raw)
        replies = read_replies(sock, 2)
    assert [reply.status for reply in replies] == [200, 200], [r.body for r in replies]
    for reply, content in zip(replies, contents, strict=True):
        assert reply.json()["sha256"] == hashlib.sha256(content).hexdigest()
        assert fetch(reply.json()["link"]) == content


def test_body_cut_short_leaves_no_job(local_server: ServerProcess) -> None:
    """The client announces 1 MiB, sends half and goes away: nothing was acknowledged,
    so neither a job nor a spool file may remain."""
    before = requests.get(f"{local_server.url}/status", timeout=5).json()["jobs"]
    address = urlsplit(local_server.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(
            b"PUT /upload/cut.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n"
            + os.urandom(512 * 1024)
        )
        time.sleep(0.3)  # let the server start receiving before the client vanishes
    spool = local_server.data_dir / "spool"
    for _ in range(50):
        jobs = requests.get(f"{local_server.url}/status", timeout=5).json()["jobs"]
        if jobs["receiving"] == 0 and not any(spool.iterdir()):
            break
        time.sleep(0.1)
    assert jobs["receiving"] == 0
    assert list(spool.iterdir()) == []
    assert sum(jobs.values()) == sum(before.values())


def test_storage_failure_is_honest_in_both_formats(
    megasim: MegaSim, server_factory, tmp_path: Path
) -> None:
    """A full MEGA account: 507 with the job's reason, as text and as JSON. The account
    fills up after Paimon last asked its usage (its first transfer's end), so the first
    upload is admitted and fails in its transfer; that failure's end told Paimon, so the
    second is refused before its body, as storage_full too."""
    server = server_factory(
        mega_api_url=megasim.url, mega_email=V2_EMAIL, mega_password=V2_PASSWORD
    )
    (tmp_path / "warm").write_bytes(b"w")
    assert curl("-T", str(tmp_path / "warm"), f"{server.url}/upload/")[0] == 200
    megasim.set_quota(V2_EMAIL, 10)
    source = tmp_path / "full.bin"
    source.write_bytes(os.urandom(4096))
    status, _, body = curl("-T", str(source), f"{server.url}/upload/")
    assert status == 507, body
    message, status_url, end = body.split("\n")
    assert end == ""
    view = requests.get(status_url, timeout=5).json()
    assert view["state"] == "failed"
    assert message == view["error"]
    assert "out of storage space" in message

    status, _, body = curl("-T", str(source), f"{server.url}/upload/?format=json")
    assert status == 507
    reply = json.loads(body)
    assert reply["error"] == "storage_full"
    assert reply["message"].startswith("The storage account has 0.0 MiB (9 bytes) free")
    assert reply["free_bytes"] == 9
    assert reply["retryable"] is False
