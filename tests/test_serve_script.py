"""The README's serve command: builds .venv when missing, serves a working upload."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import requests

from tests.conftest import REPO_ROOT, clean_environ, free_port


def test_scripts_serve_answers_an_upload(tmp_path) -> None:
    port = free_port()
    env = clean_environ() | {"PAIMON_PORT": str(port), "PAIMON_DATA_DIR": str(tmp_path)}
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [str(REPO_ROOT / "scripts" / "serve")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # the first run builds .venv
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                requests.get(f"{url}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        content = os.urandom(256 * 1024 + 3)
        reply = requests.post(f"{url}/upload", files={"file": ("x.bin", content)}, timeout=30)
        assert reply.status_code == 200, reply.text
        assert reply.json()["service"] == "local"
        assert requests.get(reply.json()["link"], timeout=30).content == content
        assert (REPO_ROOT / ".venv" / "bin" / "gunicorn").exists()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()
