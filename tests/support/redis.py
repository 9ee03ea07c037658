"""Pytest fixtures that run a real ``redis-server`` (the Debian package) on 127.0.0.1.

Registered as a plugin by tests/conftest.py (``pytest_plugins``); before that, pass
``-p tests.support.redis`` to pytest.

Fixtures
--------
``redis_server`` (session scope) -> :class:`RedisServer`
    One server for the whole run, on a free port, with no persistence and no password.
``redis_db`` (function scope) -> :class:`RedisServer`
    The same server with its database flushed before the test. Use this one in tests.

:class:`RedisServer`
    ``.url`` (``redis://127.0.0.1:<port>/0``), ``.port``, ``.client()`` a fresh
    ``redis.Redis`` on it, ``.flushdb()``, ``.log()`` the server's log so far;
    ``RedisServer.start(data_dir, password=None)`` a dedicated server (a context
    manager; ``.stop()`` ends it), e.g. one that requires a password.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from paimon_devtools.processes import StopsOnExit, terminate
from paimon_devtools.servers import free_port

STARTUP_TIMEOUT_SECONDS = 10
LOG_NAME = "redis.log"
MISSING_SERVER = (
    "redis-server is not installed, and the Redis job store tests need a real one: "
    "CI must `apt-get install redis-server` (Debian/Ubuntu package)."
)


@dataclass
class RedisServer(StopsOnExit):
    url: str
    port: int
    data_dir: Path
    process: subprocess.Popen
    password: str | None = None

    @classmethod
    def start(cls, data_dir: Path, password: str | None = None) -> RedisServer:
        """Start redis-server on a free 127.0.0.1 port, in ``data_dir``; wait for PING."""
        port = free_port()
        process = _launch(port, data_dir, password)
        auth = f":{password}@" if password is not None else ""
        server = cls(f"redis://{auth}127.0.0.1:{port}/0", port, data_dir, process, password)
        server._wait_until_ready()
        return server

    def restart(self) -> None:
        """A stopped server started again on its port, empty (nothing is saved): an
        outage that ends."""
        self.process = _launch(self.port, self.data_dir, self.password)
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self.process.returncode}:\n{self.log()}"
                )
            try:
                with self.client() as client:
                    client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer PING:\n{self.log()}")

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True, socket_timeout=5)

    def flushdb(self) -> None:
        with self.client() as client:
            client.flushdb()

    def log(self) -> str:
        path = self.data_dir / LOG_NAME
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        terminate(self.process, grace_seconds=10)


def _launch(port: int, data_dir: Path, password: str | None) -> subprocess.Popen:
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.fail(MISSING_SERVER, pytrace=False)
    command = [
        executable,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(data_dir),
        "--logfile", str(data_dir / LOG_NAME),
    ]  # fmt: skip
    if password is not None:
        command += ["--requirepass", password]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer.start(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_db(redis_server: RedisServer) -> RedisServer:
    redis_server.flushdb()
    return redis_server
