"""Shared test fixtures: a clean environment, free ports, a real gunicorn server.

Starting servers is ``paimon_devtools.servers`` (shared with scripts/bench); this file
wraps it in fixtures and registers every server log for the end-of-run secret scan.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from paimon.bootstrap import process
from paimon_devtools.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from paimon_devtools.servers import (
    HEALTHY_TIMEOUT_SECONDS,
    REPO_ROOT,
    ServerProcess,
    await_healthy,
    clean_environ,
    free_port,
    gunicorn_command,
    launch_server,
)

pytest_plugins = ["tests.fixtures.megasim", "tests.fixtures.redis"]

__all__ = [  # re-exported from paimon_devtools.servers: what tests import from here
    "REPO_ROOT",
    "ServerProcess",
    "await_healthy",
    "clean_environ",
    "free_port",
    "gunicorn_command",
]


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """In-process Settings see no developer .env and no inherited PAIMON_* variables,
    and no process-wide reading left by another test (paimon/bootstrap/process.py)."""
    for name in set(os.environ) - set(clean_environ()):
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(process, "_settings", None)


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


def start_server(workdir: Path, **settings: str) -> ServerProcess:
    """``paimon_devtools.servers.start_server``, with the server's log registered for the
    end-of-run secret scan before the server starts answering."""
    server = launch_server(workdir, **settings)
    # The registry lives in a module of its own: this file is imported twice (as pytest's
    # conftest and as tests.conftest), and each copy would have its own list. Imported
    # here, late, since it imports the megasim plugin, which pytest must load first.
    from tests.known_secrets import SERVER_LOGS

    SERVER_LOGS.append(server.log_path)
    return await_healthy(server, timeout=HEALTHY_TIMEOUT_SECONDS)


def start_mega_server(workdir: Path, sim: MegaSim, **settings: str) -> ServerProcess:
    """``start_server`` storing in the emulator ``sim``'s v2 account."""
    account = {"mega_api_url": sim.url, "mega_email": V2_EMAIL, "mega_password": V2_PASSWORD}
    return start_server(workdir, **account, **settings)


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


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """Mount a small tmpfs of that many MiB: a disk that fills up for real (CI runs as
    root). Unmounted at teardown."""
    mounts: list[Path] = []

    def mount(mib: int) -> Path:
        point = tmp_path / f"disk-{len(mounts)}"
        point.mkdir()
        command = ["mount", "-t", "tmpfs", "-o", f"size={mib}m", "tmpfs", str(point)]
        subprocess.run(command, check=True)
        mounts.append(point)
        return point

    yield mount
    for point in mounts:
        subprocess.run(["umount", "-l", str(point)], check=True)
