"""Tokens: several, either header, 401/403, never echoed or logged; open servers say so;
what stays open without a token; and secrets kept out of replies, /status and doctor."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests
import yaml

from tests.support.known_secrets import (
    MALFORMED_LINE_TOKEN,
    MEGA_PASSWORD,
    REDIS_PASSWORD,
    SECOND_TOKEN,
    TOKEN,
    UNICODE_TOKEN,
    WRONG_TOKEN,
    leaks,
    leaks_in_files,
)
from tests.support.rawhttp import exchange, multipart, request_bytes
from tests.support.servers import REPO_ROOT, ServerProcess, clean_environ, start_server
from tests.support.uploads import post_file


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with start_server(
        tmp_path_factory.mktemp("tokens"),
        auth_tokens=f"{TOKEN}, {SECOND_TOKEN},{UNICODE_TOKEN}",
        rate_limit_uploads="",
    ) as server:
        yield server


@pytest.mark.parametrize(
    "headers, status, error",
    [
        ({}, 401, "token_required"),
        ({"Authorization": "Bearer "}, 401, "token_required"),
        ({"Authorization": f"Basic {TOKEN}"}, 401, "token_required"),
        ({"X-Auth-Token": WRONG_TOKEN}, 403, "token_rejected"),
        ({"Authorization": f"Bearer {WRONG_TOKEN}"}, 403, "token_rejected"),
        ({"Authorization": f"Bearer {TOKEN[:-1]}"}, 403, "token_rejected"),
        ({"X-Auth-Token": TOKEN + "x"}, 403, "token_rejected"),
    ],
    ids=["none", "empty bearer", "basic", "wrong legacy", "wrong bearer", "prefix", "suffix"],
)
def test_refusals(server: ServerProcess, headers: dict[str, str], status: int, error: str) -> None:
    reply = post_file(server, b"tok", "t.txt", headers=headers)
    assert (reply.status_code, reply.json()["error"]) == (status, error)
    assert not leaks([("reply", reply.text + str(reply.headers))])


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {TOKEN}"},
        {"Authorization": f"bearer  {SECOND_TOKEN} "},
        {"X-Auth-Token": SECOND_TOKEN},
    ],
    ids=["bearer", "lowercase scheme", "legacy header"],
)
def test_every_configured_token_in_either_header(
    server: ServerProcess, headers: dict[str, str]
) -> None:
    assert post_file(server, b"tok", "t.txt", headers=headers).status_code == 200


def test_a_utf8_token_matches_the_bytes_sent(server: ServerProcess) -> None:
    body = multipart(b"u.txt", b"unicode token")
    head = {"Content-Type": "multipart/form-data; boundary=PaimonTestBoundary"}
    raw = request_bytes("POST", "/upload", body, head)
    authorized = raw.replace(b"Host:", b"X-Auth-Token: " + UNICODE_TOKEN.encode() + b"\r\nHost:")
    assert exchange(server.url, authorized).status == 200
    latin1 = raw.replace(
        b"Host:", b"X-Auth-Token: " + UNICODE_TOKEN.encode("latin-1", "replace") + b"\r\nHost:"
    )
    assert exchange(server.url, latin1).status == 403


def test_what_stays_open_and_what_needs_the_job_id(server: ServerProcess) -> None:
    for path in ("/healthz", "/readyz", "/ping", "/status"):
        assert requests.get(f"{server.url}{path}", timeout=5).status_code == 200
    assert requests.get(f"{server.url}/status", timeout=5).json()["auth"] == "token"
    job_id = post_file(server, b"tok", "t.txt", headers={"X-Auth-Token": TOKEN}).json()["id"]
    assert len(job_id) >= 27  # 160 random bits
    assert requests.get(f"{server.url}/status/{job_id}", timeout=5).json()["state"] == "done"
    other_id = job_id[:-1] + ("B" if job_id.endswith("A") else "A")  # one character off
    assert requests.get(f"{server.url}/status/{other_id}", timeout=5).status_code == 404
    retry = requests.post(f"{server.url}/status/{job_id}/retry", timeout=5)
    assert retry.status_code == 401


def test_token_in_a_malformed_header_line_is_not_echoed(server: ServerProcess) -> None:
    """Without the colon, gunicorn itself refuses the line; its stock answer and log
    quoted it whole (paimon/server/worker.py)."""
    raw = f"GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization Bearer {MALFORMED_LINE_TOKEN}\r\n\r\n"
    reply = exchange(server.url, raw.encode())
    assert (reply.status, reply.json()["error"]) == (400, "invalid_header")
    assert MALFORMED_LINE_TOKEN not in reply.body.decode()
    assert "invalid_header" in server.logs()
    assert MALFORMED_LINE_TOKEN not in server.logs()


def test_open_server_says_so_in_log_and_status(server_factory) -> None:
    server = server_factory()
    assert requests.get(f"{server.url}/status", timeout=5).json()["auth"] == "open"
    assert "UPLOADS ARE OPEN" in server.logs()


def test_render_blueprint_generates_a_token() -> None:
    blueprint = yaml.safe_load((REPO_ROOT / "render.yaml").read_text())
    env = {v["key"]: v for v in blueprint["services"][0]["envVars"]}
    assert env["PAIMON_AUTH_TOKENS"].get("generateValue") is True
    assert env["PAIMON_MEGA_PASSWORD"].get("sync") is False  # typed in the dashboard


def test_doctor_and_status_never_show_secrets(tmp_path, server_factory) -> None:
    settings = {
        "PAIMON_AUTH_TOKENS": TOKEN,
        "PAIMON_MEGA_EMAIL": "someone@example.com",
        "PAIMON_MEGA_PASSWORD": MEGA_PASSWORD,
        "PAIMON_REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:1/0",
        "PAIMON_DATA_DIR": str(tmp_path / "data"),
        "PAIMON_MIN_FREE_BYTES": "0",
        "PYTHONPATH": str(REPO_ROOT),
    }
    outputs = [
        subprocess.run(
            [sys.executable, "-m", "paimon", "doctor", *flag],
            cwd=tmp_path,
            env=clean_environ() | settings,
            capture_output=True,
            text=True,
            timeout=60,
        )
        for flag in ([], ["--json"])
    ]
    assert json.loads(outputs[1].stdout)["checks"]
    assert not leaks([(f"doctor {o.args}", o.stdout + o.stderr) for o in outputs])
    server = server_factory(auth_tokens=TOKEN)
    status = requests.get(f"{server.url}/status", timeout=5).text
    assert not leaks([("/status", status)])


def test_the_log_scan_finds_a_planted_secret(tmp_path) -> None:
    """The end-of-run scan (tests/conftest.py) is only worth something if it can fail."""
    log = tmp_path / "gunicorn-1.log"
    log.write_text(f"line\nAuthorization: Bearer {TOKEN}\n")
    assert leaks_in_files([log, tmp_path / "missing.log"]) == [f"{log}: {TOKEN!r}"]
