"""Small things a newcomer hit on second contact (issue 26, point 4), each asked of a
real gunicorn or of `paimon doctor` as a user runs them: half the MEGA credentials, a
Redis that does not answer, a port in use, a data directory the server cannot use,
wording of limits. The Docker image is tests/deploy/test_docker_image.py; the README's doctor
command and docs/api.md's shell function run in tests/deploy/newcomer."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from paimon.config import load_settings
from tests.support.doctor import by_name, run_doctor
from tests.support.redis import RedisServer
from tests.support.servers import (
    REPO_ROOT,
    ServerProcess,
    clean_environ,
    free_port,
    start_refused,
    start_server,
)

JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("second-contact"))
    yield server
    server.stop()


# --- half the MEGA credentials ------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({"PAIMON_MEGA_EMAIL": "owner@example.com"}, "PAIMON_MEGA_PASSWORD"),
        ({"MEGA_EMAIL": "owner@example.com"}, "PAIMON_MEGA_PASSWORD"),
        ({"PAIMON_MEGA_PASSWORD": "half-of-it"}, "PAIMON_MEGA_EMAIL"),
    ],
    ids=["email", "legacy-email", "password"],
)
def test_half_the_mega_credentials_stop_the_server_in_one_line(
    tmp_path: Path, given: dict[str, str], missing: str
) -> None:
    """Not a quiet fall-back to local storage: one line naming the missing variable,
    and how to ask for local storage on purpose."""
    result = start_refused(tmp_path, **given)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"paimon: bad setting {missing}: required with ")
    assert "PAIMON_STORAGE=local" in line
    assert "half-of-it" not in result.stderr
    code, report = run_doctor(sys.executable, tmp_path, **given)
    assert code == 1
    assert missing in by_name(report)["settings"]["detail"]


def test_local_storage_on_purpose_and_empty_variables_are_no_half_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAIMON_MEGA_EMAIL", "owner@example.com")
    monkeypatch.setenv("PAIMON_STORAGE", "local")
    assert load_settings().storage_backend == "local"
    monkeypatch.delenv("PAIMON_STORAGE")
    # compose.yaml passes unset credentials as empty strings; Render may leave a
    # `sync: false` secret blank.
    monkeypatch.setenv("PAIMON_MEGA_EMAIL", "")
    monkeypatch.setenv("PAIMON_MEGA_PASSWORD", "")
    monkeypatch.setenv("PAIMON_MEGA_TOTP_SECRET", "")
    settings = load_settings()
    assert (settings.storage_backend, settings.mega_totp_secret) == ("local", None)


# --- which job store, and a Redis that does not answer ------------------------------------


def test_doctor_names_the_job_store_and_an_unreachable_redis(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    code, report = run_doctor(sys.executable, tmp_path)
    assert code == 0
    assert by_name(report)["jobs"]["detail"] == "sqlite job store answers"

    code, report = run_doctor(sys.executable, tmp_path, PAIMON_REDIS_URL=redis_server.url)
    assert code == 0
    assert by_name(report)["jobs"]["detail"] == "redis job store answers"

    port = free_port()  # nothing listens there
    down = f"redis://127.0.0.1:{port}/0"
    code, report = run_doctor(sys.executable, tmp_path, PAIMON_REDIS_URL=down)
    assert code == 1
    checks = by_name(report)
    assert not checks["jobs"]["ok"]
    assert checks["jobs"]["detail"].startswith(
        f"the Redis job store at 127.0.0.1:{port} is unreachable"
    )
    # The failure is Redis's, not a probe download answering 503.
    assert "downloads" not in checks
    assert [c["name"] for c in report["checks"] if not c["ok"]] == ["jobs"]


def test_doctor_at_build_time_leaves_the_data_directory_and_redis_alone(tmp_path: Path) -> None:
    """scripts/build's doctor: the volume and Redis are not there yet at build time."""
    data = tmp_path / "volume"
    down = f"redis://127.0.0.1:{free_port()}/0"
    result = subprocess.run(
        [sys.executable, "-m", "paimon", "doctor", "--build"],
        cwd=tmp_path,
        env=clean_environ()
        | {"PYTHONPATH": str(REPO_ROOT), "PAIMON_DATA_DIR": str(data), "PAIMON_REDIS_URL": down},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   jobs      sqlite job store answers" in result.stdout
    assert "info build     spool, jobs and downloads were checked in a scratch directory" in (
        result.stdout
    )
    assert list(tmp_path.iterdir()) == []  # no volume made, nothing in the working directory


def test_readyz_names_the_job_store_in_use(
    local: ServerProcess, server_factory, redis_server: RedisServer
) -> None:
    ready = requests.get(f"{local.url}/readyz", timeout=30).json()
    assert ready["checks"]["jobs"] == {"ok": True, "detail": "sqlite job store answers"}
    shared = server_factory(redis_url=redis_server.url)
    ready = requests.get(f"{shared.url}/readyz", timeout=30).json()
    assert ready["checks"]["jobs"] == {"ok": True, "detail": "redis job store answers"}

    port = free_port()  # nothing listens there
    down = server_factory(redis_url=f"redis://127.0.0.1:{port}/0")
    reply = requests.get(f"{down.url}/readyz", timeout=30)
    assert reply.status_code == 503
    body = reply.json()
    assert "jobs" in body["failed"]
    assert body["checks"]["jobs"]["detail"].startswith(
        f"the Redis job store at 127.0.0.1:{port} is unreachable"
    )
    assert "RefusingStore" not in reply.text


# --- starting: a port in use, a data directory that cannot be used ------------------------


def test_a_port_in_use_is_one_line_with_a_hint(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = start_refused(tmp_path, PAIMON_PORT=str(port))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"paimon: port {port} is already in use on 127.0.0.1 (another Paimon, or another "
        f"server?); stop it, or start on another port, e.g. PAIMON_PORT={port + 1}"
    ]
    assert result.stdout == ""


def test_a_data_directory_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the data directory's parent should be")
    result = start_refused(tmp_path, PAIMON_DATA_DIR=str(blocker / "data"))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"paimon: the data directory {blocker / 'data'} cannot be used by uid")
    assert "Not a directory" in line


# --- limits, in words ---------------------------------------------------------------------


@pytest.mark.parametrize("allowed", [1, 2])
def test_a_used_up_link_counts_its_downloads_in_words(local: ServerProcess, allowed: int) -> None:
    reply = requests.put(
        f"{local.url}/upload/counted.txt",
        data=b"counted",
        headers={**JSON, "Max-Downloads": str(allowed)},
        timeout=30,
    )
    link = reply.json()["link"]
    for _ in range(allowed):
        assert requests.get(link, timeout=30).status_code == 200
    gone = requests.get(link, timeout=30)
    assert gone.status_code == 410
    times = "1 time" if allowed == 1 else f"{allowed} times"
    expected = f"This upload could be downloaded {times}; it was, and is deleted."
    assert gone.json()["message"] == expected


@pytest.mark.parametrize(
    ("header", "value", "bound"),
    [
        ("Max-Days", "1000000", "below 1000000"),
        ("Max-Days", "0.0000001", "at most 6 decimals"),
        ("Max-Downloads", "1000000000", "from 1 to 999999999"),
    ],
)
def test_a_refused_limit_names_the_bound(
    local: ServerProcess, header: str, value: str, bound: str
) -> None:
    reply = requests.put(
        f"{local.url}/upload/x.txt", data=b"x", headers={**JSON, header: value}, timeout=30
    )
    assert reply.status_code == 400
    assert reply.json()["error"] == "bad_keep"
    assert f"The header '{header}' must be " in reply.json()["message"]
    assert bound in reply.json()["message"]
