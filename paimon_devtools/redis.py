"""A real ``redis-server`` (the Debian package) on a free 127.0.0.1 port, for the tests
and the benchmark: ``RedisServer.start(data_dir, password=None)`` (a context manager;
``.stop()`` ends it, ``.restart()`` starts it again, empty), ``.url``, ``.client()``,
``.flushdb()``, ``.log()``."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from paimon_devtools.processes import StopsOnExit, terminate
from paimon_devtools.servers import free_port

STARTUP_TIMEOUT_SECONDS = 10
LOG_NAME = "redis.log"
MISSING_SERVER = (
    "redis-server is not installed, and the Redis job store tests need a real one: "
    "CI must `apt-get install redis-server` (Debian/Ubuntu package)."
)


class RedisMissing(RuntimeError):
    """No redis-server on the PATH."""


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
        raise RedisMissing(MISSING_SERVER)
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
