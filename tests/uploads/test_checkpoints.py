"""Issue 17, item 3: a MEGA transfer taken over after its worker was SIGKILLed goes on
from the last byte MEGA acknowledged, with the same upload URL and key, on a real
gunicorn and the emulator over a shaped (slow) path; one whose URL MEGA no longer takes
(-8) starts over. The file is checked byte for byte and MAC for MAC (decrypt_file
checks the meta-MAC in the link's key), and the emulator counts what was sent again.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
import requests

from paimon.bootstrap.installsecret import install_secret
from paimon.jobs.sqlite import SqliteJobStore
from paimon.storage.mega.codes import EEXPIRED
from paimon.uploads.checkpoints import Sealer
from tests.support.mega import download
from tests.support.megasim import MegaSim
from tests.support.servers import ServerProcess, eventually, holder_pid, start_mega_server
from tests.support.uploads import MIB, job, send_async

SIZE = 24 * MIB
CONNECTIONS = 4
PER_CONNECTION = 1_500_000  # bytes/s: 6 MB/s in all, about 4 s for the file


@pytest.fixture
def server(sim: MegaSim, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    sim.reset(nodes=False)
    server = start_mega_server(
        tmp_path_factory.mktemp("resume-server"),
        sim,
        workers="1",
        mega_upload_connections=str(CONNECTIONS),
    )
    warm = requests.post(f"{server.url}/upload", files={"file": ("w.bin", b"w")}, timeout=60)
    assert warm.status_code == 200, warm.text  # logged in, folder found
    yield server
    server.stop()


def kill_at(server: ServerProcess, job_id: str, fraction: float) -> int:
    """SIGKILL the worker running the job once MEGA acknowledged ``fraction`` of it."""
    jobs = SqliteJobStore(server.data_dir / "jobs.sqlite3")
    try:
        assert eventually(lambda: jobs.get(job_id).bytes_stored >= fraction * SIZE, 60, 0.01)
        acknowledged = jobs.get(job_id).bytes_stored
        os.kill(holder_pid(server, jobs, job_id), signal.SIGKILL)
        return acknowledged
    finally:
        jobs.close()


def test_a_killed_transfer_resumes_from_what_mega_acknowledged(
    sim: MegaSim, server: ServerProcess
) -> None:
    sim.network(connection_bytes_per_second=PER_CONNECTION)
    content = os.urandom(SIZE)
    sent_before = sim.state()["transfers"]["bytes_received"]
    job_id = send_async(server, "resumed.bin", content)
    acknowledged = kill_at(server, job_id, 0.6)
    assert eventually(lambda: job(server, job_id)["state"] == "done", timeout=120)
    view = job(server, job_id)
    assert view["attempts"] == 2
    # The checkpoint and the progress are written every half second: each may lag.
    assert acknowledged - CONNECTIONS * PER_CONNECTION * 2 <= view["resumed_from"] < SIZE
    assert "transfer_state" not in view and "/ul/" not in str(view)  # no URL, no key
    assert download(sim, view["link"]) == content  # byte for byte, MAC for MAC
    sent = sim.state()["transfers"]["bytes_received"] - sent_before
    assert sent - SIZE <= SIZE - view["resumed_from"] + 8 * MIB  # POSTs cut off in flight
    assert sent < 1.45 * SIZE
    assert f"resuming a MEGA upload at byte {view['resumed_from']}" in server.log_path.read_text()


def test_an_upload_url_mega_no_longer_takes_starts_over(
    sim: MegaSim, server: ServerProcess
) -> None:
    sim.network(connection_bytes_per_second=PER_CONNECTION)
    content = os.urandom(SIZE)
    job_id = send_async(server, "expired.bin", content)
    kill_at(server, job_id, 0.5)
    sim.fault("upload", EEXPIRED)  # the resumed attempt's first POST: the URL is gone
    assert eventually(lambda: job(server, job_id)["state"] == "done", timeout=120)
    view = job(server, job_id)
    assert view["resumed_from"] > 0  # it tried
    assert download(sim, view["link"]) == content
    log = server.log_path.read_text()
    assert "MEGA upload URL expired; starting over with a new one" in log


def test_a_checkpoint_is_sealed_and_another_installs_cannot_open_it(
    sim: MegaSim, server: ServerProcess
) -> None:
    sim.network(connection_bytes_per_second=PER_CONNECTION)
    job_id = send_async(server, "sealed.bin", os.urandom(SIZE))
    jobs = SqliteJobStore(server.data_dir / "jobs.sqlite3")
    try:
        assert eventually(lambda: jobs.get(job_id).transfer_state is not None, 60, 0.02)
        sealed = jobs.get(job_id).transfer_state
        assert sim.url not in sealed and "/ul/" not in sealed  # the URL is not readable
        opened = Sealer(install_secret(server.data_dir)).open(sealed)
        assert opened is not None and f"{sim.url}/ul/" in opened
        assert Sealer(os.urandom(32)).open(sealed) is None
        assert eventually(lambda: jobs.get(job_id).state == "done", 120)
        assert jobs.get(job_id).transfer_state is None  # gone with the transfer
    finally:
        jobs.close()


def test_a_transfer_handed_back_at_shutdown_resumes_too(
    sim: MegaSim, server: ServerProcess
) -> None:
    """SIGTERM (a deploy): the stopping worker hands the job back with its latest
    checkpoint written, and the next worker goes on from it. Slower here, so that the
    transfer is still running when the worker has wound down (seconds)."""
    sim.network(connection_bytes_per_second=PER_CONNECTION // 5)
    content = os.urandom(SIZE)
    job_id = send_async(server, "handed-back.bin", content)
    jobs = SqliteJobStore(server.data_dir / "jobs.sqlite3")
    try:
        assert eventually(lambda: jobs.get(job_id).bytes_stored >= 0.25 * SIZE, 60, 0.01)
        os.kill(holder_pid(server, jobs, job_id), signal.SIGTERM)
    finally:
        jobs.close()
    assert eventually(lambda: job(server, job_id)["state"] == "done", timeout=120)
    view = job(server, job_id)
    assert view["attempts"] == 2
    assert view["resumed_from"] >= 0.2 * SIZE
    assert download(sim, view["link"]) == content
