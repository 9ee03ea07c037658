"""Shared test fixtures: a clean environment, free ports, a real gunicorn server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.fixtures.processes import terminate

pytest_plugins = ["tests.fixtures.megasim", "tests.fixtures.redis"]

REPO_ROOT = Path(__file__).resolve().parent.parent
# Names Paimon reads from the environment besides PAIMON_*: tests must not inherit them.
LEGACY_NAMES = ("MEGA_EMAIL", "MEGA_PASSWORD", "AUTH_TOKEN", "PORT", "WEB_CONCURRENCY")


def clean_environ() -> dict[str, str]:
    """os.environ without any setting Paimon would read."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith("PAIMON_") and k not in LEGACY_NAMES
    }


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """In-process Settings see no developer .env and no inherited PAIMON_* variables."""
    for name in set(os.environ) - set(clean_environ()):
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session", autouse=True)
def _no_secret_in_any_server_log() -> Iterator[None]:
    """Torn down last: fails the run if any server logged a secret from known_secrets."""
    yield
    from tests.known_secrets import SERVER_LOGS, leaks_in_files  # see start_server

    found = leaks_in_files(SERVER_LOGS)
    assert not found, "secrets in server logs:\n" + "\n".join(found)


def eventually(condition: Callable[[], bool], timeout: float = 30, interval: float = 0.05) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServerProcess:
    """A gunicorn running Paimon, started exactly as deployed (gunicorn.conf.py)."""

    url: str
    process: subprocess.Popen
    log_path: Path
    data_dir: Path
    env: dict[str, str] = field(repr=False)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM (gunicorn's graceful stop), then SIGKILL after 30 s."""
        terminate(self.process, grace_seconds=30)


def gunicorn_command() -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(REPO_ROOT / "gunicorn.conf.py"),
        "wsgi:app",
    ]


def start_server(workdir: Path, **settings: str) -> ServerProcess:
    """Start gunicorn on a free 127.0.0.1 port with PAIMON_* settings; wait for /healthz.

    The working directory is a scratch folder, so no developer .env is read;
    PYTHONPATH makes the server run this source tree.
    """
    port = free_port()
    data_dir = workdir / "data"
    env = clean_environ() | {
        "PAIMON_HOST": "127.0.0.1",
        "PAIMON_PORT": str(port),
        "PAIMON_WORKERS": "2",
        "PAIMON_DATA_DIR": str(data_dir),
        "PAIMON_MIN_FREE_BYTES": "0",
        "PYTHONPATH": str(REPO_ROOT),
    }
    env |= {f"PAIMON_{k.upper()}": v for k, v in settings.items()}
    log_path = workdir / f"gunicorn-{port}.log"
    # The registry lives in a module of its own: this file is imported twice (as pytest's
    # conftest and as tests.conftest), and each copy would have its own list. Imported
    # here, late, since it imports the megasim plugin, which pytest must load first.
    from tests.known_secrets import SERVER_LOGS

    SERVER_LOGS.append(log_path)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            gunicorn_command(), cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", process, log_path, data_dir, env)
    return await_healthy(server, timeout=30)


def await_healthy(server: ServerProcess, timeout: float) -> ServerProcess:
    """``server`` once /healthz answers 200; stopped, and an error with its log, if its
    process exits or ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.logs()}")
        try:
            if requests.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except (requests.ConnectionError, requests.Timeout):  # not listening, or no
            pass  # worker has booted yet to take the connection from the backlog
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not become healthy:\n{server.logs()}")


@pytest.fixture
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """Start servers with given settings; all are stopped at teardown."""
    started: list[ServerProcess] = []

    def factory(**settings: str) -> ServerProcess:
        server = start_server(tmp_path_factory.mktemp("server"), **settings)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One local-storage server shared by a test module."""
    server = start_server(tmp_path_factory.mktemp("local-server"))
    yield server
    server.stop()
