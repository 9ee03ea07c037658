"""The README's serve command: builds .venv when missing or out of date, serves a
working upload."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import requests

from tests.support.newcomer import BUILD_TIMEOUT_SECONDS
from tests.support.servers import REPO_ROOT, ServerProcess, await_healthy, clean_environ, free_port

STAMP = REPO_ROOT / ".venv" / "paimon-build-inputs"
BUILDING = "scripts/serve: building .venv"


@contextmanager
def serving(data_dir: Path, log_path: Path) -> Iterator[str]:
    """``scripts/serve`` running (and answering /healthz); its URL. Stopped on exit."""
    port = free_port()
    env = clean_environ() | {"PAIMON_PORT": str(port), "PAIMON_DATA_DIR": str(data_dir)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(REPO_ROOT / "scripts" / "serve")],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        server = ServerProcess(f"http://127.0.0.1:{port}", process, log_path, data_dir, env)
        try:
            yield await_healthy(server, timeout=BUILD_TIMEOUT_SECONDS).url
        finally:
            with suppress(ProcessLookupError):  # already stopped by await_healthy
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def test_scripts_serve_answers_an_upload(tmp_path: Path) -> None:
    with serving(tmp_path, tmp_path / "serve.log") as url:
        content = os.urandom(256 * 1024 + 3)
        reply = requests.post(f"{url}/upload", files={"file": ("x.bin", content)}, timeout=30)
        assert reply.status_code == 200, reply.text
        assert reply.json()["service"] == "local"
        assert requests.get(reply.json()["link"], timeout=30).content == content
    assert (REPO_ROOT / ".venv" / "bin" / "gunicorn").exists()


def test_scripts_serve_builds_again_only_when_its_inputs_changed(tmp_path: Path) -> None:
    """An older build (after a git pull that changed the lock, say) is built again;
    an up-to-date one is not. The stamp is what the build was made from."""
    with serving(tmp_path, tmp_path / "first.log"):
        pass  # built now if it had to be
    built_from = STAMP.read_text()
    STAMP.write_text("inputs of an older build\n")
    with serving(tmp_path, tmp_path / "stale.log") as url:
        assert requests.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}
    assert BUILDING in (tmp_path / "stale.log").read_text()
    assert STAMP.read_text() == built_from
    with serving(tmp_path, tmp_path / "fresh.log") as url:
        assert requests.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}
    assert BUILDING not in (tmp_path / "fresh.log").read_text()
