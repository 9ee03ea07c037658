"""A gunicorn running Paimon exactly as deployed (gunicorn.conf.py), on a free
127.0.0.1 port, for the tests and the benchmark."""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests

from paimon_devtools.processes import StopsOnExit, terminate

REPO_ROOT = Path(__file__).resolve().parent.parent
# Names Paimon reads from the environment besides PAIMON_*: a server must not inherit them.
LEGACY_NAMES = ("MEGA_EMAIL", "MEGA_PASSWORD", "AUTH_TOKEN", "PORT", "WEB_CONCURRENCY")
HEALTHY_TIMEOUT_SECONDS = 30


def clean_environ() -> dict[str, str]:
    """os.environ without any setting Paimon would read."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith("PAIMON_") and k not in LEGACY_NAMES
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServerProcess(StopsOnExit):
    """A gunicorn running Paimon, started exactly as deployed (gunicorn.conf.py); ``with``
    stops it when the block ends."""

    url: str
    process: subprocess.Popen
    log_path: Path
    data_dir: Path
    env: dict[str, str] = field(repr=False)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def reference(self, secret: str, length: int = 8) -> str:
        """What this server's logs say for ``secret`` (paimon.observability.logs)."""
        key = (self.data_dir / "install-secret").read_bytes()
        return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()[:length]

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


def launch_server(
    workdir: Path, *, port: int | None = None, wrapper: Sequence[str] = (), **settings: str
) -> ServerProcess:
    """Start gunicorn on a free 127.0.0.1 port (or ``port``) with PAIMON_* settings,
    without waiting; under ``wrapper`` (a command that runs the rest) if given.

    Separate from ``start_server`` so that the tests can register the log for their
    end-of-run secret scan before the server answers. The working directory is a
    scratch folder, so no developer .env is read; PYTHONPATH makes the server run this
    source tree.
    """
    port = port or free_port()
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
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*wrapper, *gunicorn_command()],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return ServerProcess(f"http://127.0.0.1:{port}", process, log_path, data_dir, env)


def eventually(condition: Callable[[], bool], timeout: float = 30, interval: float = 0.05) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


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
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or a worker still booting on a busy machine: ask again
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not become healthy:\n{server.logs()}")


def start_server(
    workdir: Path, *, port: int | None = None, wrapper: Sequence[str] = (), **settings: str
) -> ServerProcess:
    """``launch_server``, then wait for /healthz."""
    server = launch_server(workdir, port=port, wrapper=wrapper, **settings)
    return await_healthy(server, timeout=HEALTHY_TIMEOUT_SECONDS)
