"""Real servers for the tests: gunicorn with Paimon as deployed, started through
``paimon_devtools.servers`` (shared with scripts/bench), each log registered for the
end-of-run secret scan; the fixtures that start and stop them; polling a condition;
and the workers of a running server.

Registered as a pytest plugin by tests/conftest.py (``pytest_plugins``).

Fixtures
--------
``server_factory`` -> ``factory(**settings)``: servers with those settings (PAIMON_*
names without the prefix, lower case), all stopped at teardown.
``local_server`` (module scope): one local-storage server shared by a test module, with
the module's ``LOCAL_SETTINGS`` if it has them.
``mega_server`` (module scope): one server storing in the module's emulator (``sim``),
with the module's ``MEGA_SETTINGS`` if it has them.
``tmpfs`` -> ``mount(mib)``: a small tmpfs that fills up for real (CI runs as root).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from paimon.jobs.store import JobStore
from paimon_devtools.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from paimon_devtools.servers import (
    HEALTHY_TIMEOUT_SECONDS,
    REPO_ROOT,
    ServerProcess,
    await_healthy,
    clean_environ,
    eventually,
    free_port,
    gunicorn_command,
    launch_server,
)
from tests.support.known_secrets import SERVER_LOGS

__all__ = [  # re-exported from paimon_devtools.servers: what tests import from here
    "REPO_ROOT",
    "ServerProcess",
    "await_healthy",
    "clean_environ",
    "eventually",
    "free_port",
    "gunicorn_command",
]


def start_server(
    workdir: Path, *, port: int | None = None, wrapper: Sequence[str] = (), **settings: str
) -> ServerProcess:
    """``paimon_devtools.servers.start_server``, with the server's log registered for the
    end-of-run secret scan before the server starts answering."""
    server = launch_server(workdir, port=port, wrapper=wrapper, **settings)
    SERVER_LOGS.append(server.log_path)
    return await_healthy(server, timeout=HEALTHY_TIMEOUT_SECONDS)


def start_refused(workdir: Path, **env: str) -> subprocess.CompletedProcess:
    """gunicorn started as deployed with ``env`` in ``workdir``, to its end: for a
    start that must be refused (a bad setting, a port in use), with what it printed."""
    return subprocess.run(
        gunicorn_command(),
        cwd=workdir,
        env=clean_environ()
        | {"PAIMON_HOST": "127.0.0.1", "PAIMON_PORT": str(free_port()), **env}
        | {"PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def start_mega_server(workdir: Path, sim: MegaSim, **settings: str) -> ServerProcess:
    """``start_server`` storing in the emulator ``sim``'s v2 account."""
    account = {"mega_api_url": sim.url, "mega_email": V2_EMAIL, "mega_password": V2_PASSWORD}
    return start_server(workdir, **account, **settings)


def worker_pids(server: ServerProcess) -> list[int]:
    """The gunicorn workers of a running server (children of its master)."""
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    return [int(pid) for pid in children.read_text().split()]


def holder_pid(server: ServerProcess, jobs: JobStore, job_id: str) -> int:
    """The worker holding the job's lease (its owner name carries the pid)."""
    owner = jobs.get(job_id).lease_owner
    return next(pid for pid in worker_pids(server) if f":{pid}:" in owner)


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
def local_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One local-storage server shared by a test module (``LOCAL_SETTINGS``)."""
    settings = getattr(request.module, "LOCAL_SETTINGS", {})
    with start_server(tmp_path_factory.mktemp("local-server"), **settings) as server:
        yield server


@pytest.fixture(scope="module")
def mega_server(
    request: pytest.FixtureRequest, sim: MegaSim, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server shared by a test module, storing in its emulator (``MEGA_SETTINGS``)."""
    settings = getattr(request.module, "MEGA_SETTINGS", {})
    with start_mega_server(tmp_path_factory.mktemp("mega-server"), sim, **settings) as server:
        yield server


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
