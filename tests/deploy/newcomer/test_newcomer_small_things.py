"""Small things a newcomer hit (issue 13, point 4), asked of a running server: the
fresh clone's unless a test needs settings of its own. The clone is the committed HEAD,
so a fix is seen here once it is committed."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.support.newcomer import curl_environ
from tests.support.servers import ServerProcess

TUS_CREATE = {"Tus-Resumable": "1.0.0", "Upload-Length": "5"}


def test_put_without_a_name_says_which_route_to_use(fresh_server: ServerProcess) -> None:
    """``curl -T file URL/upload`` (no slash) sends no name: the answer must say how."""
    reply = requests.put(f"{fresh_server.url}/upload", data=b"hello", timeout=30)
    assert reply.status_code == 405
    body = reply.json()
    assert body["status"] == "error"
    assert re.search(r"PUT /upload/<\w+>", body["message"]), body["message"]


def test_post_with_a_trailing_slash_works_like_post_upload(fresh_server: ServerProcess) -> None:
    """``POST /upload/`` is what the PUT examples' URL invites; it must not be a 404."""
    plain = requests.post(
        f"{fresh_server.url}/upload", files={"file": ("a.txt", b"plain")}, timeout=30
    )
    slashed = requests.post(
        f"{fresh_server.url}/upload/", files={"file": ("b.txt", b"slashed")}, timeout=30
    )
    assert (slashed.status_code, plain.status_code) == (200, 200), slashed.text
    assert slashed.json().keys() == plain.json().keys()
    assert slashed.json()["filename"] == "b.txt"
    assert requests.get(slashed.json()["link"], timeout=30).content == b"slashed"


@pytest.mark.parametrize(
    ("status", "send"),
    [
        (
            200,
            lambda url: requests.post(f"{url}/upload", files={"file": ("r.txt", b"r")}, timeout=30),
        ),
        (200, lambda url: requests.put(f"{url}/upload/r.txt", data=b"r", timeout=30)),
        (201, lambda url: requests.post(f"{url}/tus/", headers=TUS_CREATE, timeout=30)),
        (
            202,
            lambda url: requests.post(
                f"{url}/upload",
                files={"file": ("r.txt", b"r")},
                headers={"Prefer": "respond-async"},
                timeout=30,
            ),
        ),
    ],
    ids=["post-200", "put-200", "tus-201", "async-202"],
)
def test_no_retry_after_on_success(
    status: int, send: Callable[[str], requests.Response], fresh_server: ServerProcess
) -> None:
    """Async clients read Retry-After on a 202 as "poll again in that many seconds"."""
    reply = send(fresh_server.url)
    assert reply.status_code == status, reply.text
    assert "Retry-After" not in reply.headers


def test_retry_after_on_429(server_factory: Callable[..., ServerProcess]) -> None:
    """One worker: without Redis each worker counts on its own."""
    server = server_factory(rate_limit_uploads="1/minute", workers="1")
    replies = [
        requests.post(f"{server.url}/upload", files={"file": ("r.txt", b"r")}, timeout=30)
        for _ in range(2)
    ]
    assert [r.status_code for r in replies] == [200, 429]
    assert int(replies[1].headers["Retry-After"]) > 0


def test_retry_after_on_503(server_factory: Callable[..., ServerProcess]) -> None:
    """A spool that can never have enough free space: /readyz answers 503."""
    server = server_factory(min_free_bytes=str(10**18))
    reply = requests.get(f"{server.url}/readyz", timeout=30)
    assert reply.status_code == 503, reply.text
    assert int(reply.headers["Retry-After"]) > 0


def test_paimon_version(fresh_clone: Path, fresh_server: ServerProcess) -> None:
    """``paimon --version`` from the .venv scripts/serve built prints the version the
    server reports."""
    result = subprocess.run(
        [str(fresh_clone / ".venv" / "bin" / "paimon"), "--version"],
        cwd=fresh_clone,
        env=curl_environ(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    version = requests.get(f"{fresh_server.url}/status", timeout=30).json()["version"]
    assert version in result.stdout.split(), result.stdout
