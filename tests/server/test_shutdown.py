"""SIGTERM inside the platform's window (docs/deployment.md, "Shutdown window").

A real gunicorn gets SIGTERM during a long upload and during a long transfer into the
MEGA emulator (throttled). Uploads still arriving get PAIMON_GRACEFUL_TIMEOUT_SECONDS;
past it their worker is killed, what is resumable (tus) resumes on the next start,
and nothing stays `receiving` or `transferring` for good.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from tests.support.mega import download
from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from tests.support.rawhttp import PIECE, SlowBody, request_bytes, tus_patch_head
from tests.support.servers import ServerProcess, eventually
from tests.support.uploads import MIB, TUS, tus_patch, wait_for_job

LEASE_SECONDS = "3"


def stored_jobs(data_dir: Path) -> dict[str, dict]:
    """The SQLite job store as the next start will find it, by id."""
    with sqlite3.connect(data_dir / "jobs.sqlite3") as db:
        db.row_factory = sqlite3.Row
        return {row["id"]: dict(row) for row in db.execute("SELECT * FROM jobs")}


def sigterm(server: ServerProcess) -> float:
    """Send SIGTERM to the master (a deploy); the monotonic time it was sent."""
    server.process.send_signal(signal.SIGTERM)
    return time.monotonic()


def exit_seconds(server: ServerProcess, since: float, limit: float) -> float:
    """Seconds from ``since`` until the master exited (at most ``limit``)."""
    server.process.wait(timeout=limit)
    return time.monotonic() - since


def test_upload_in_flight_finishes_inside_the_graceful_time(server_factory) -> None:
    """SIGTERM 1 s into a 3 s upload: it is answered and stored, then the server stops."""
    server = server_factory(graceful_timeout_seconds="20")
    content = os.urandom(2 * MIB)
    head = request_bytes("PUT", "/upload/late.bin", headers={"Content-Length": str(len(content))})
    upload = SlowBody(server.url, head, content, pause=0.1)  # 32 pieces: about 3.2 s
    upload.start()
    assert eventually(lambda: upload.sent >= 8 * PIECE, timeout=10)
    sent_at = sigterm(server)
    upload.join(timeout=30)
    assert upload.error is None, server.logs()
    assert upload.reply is not None and upload.reply.status == 200, upload.reply
    link = upload.reply.body.decode().strip()
    seconds = exit_seconds(server, sent_at, limit=25)
    assert seconds < 20  # it waited for the upload, not for the whole graceful time
    (job,) = stored_jobs(server.data_dir).values()
    assert (job["state"], job["size"]) == ("done", len(content))
    assert job["sha256"] == hashlib.sha256(content).hexdigest()
    # The next start serves what was stored during the shutdown.
    restarted = server_factory(data_dir=str(server.data_dir))
    path = urlsplit(link).path
    assert requests.get(f"{restarted.url}{path}", timeout=10).content == content


def test_graceful_time_runs_out_tus_resumes_and_the_rest_is_purged(server_factory) -> None:
    """A tus PATCH and a PUT, both too slow for a 2 s graceful time: the worker is
    killed after it; the tus upload continues from its offset on the next start, and
    the PUT (never acknowledged) leaves nothing once retention passes."""
    server = server_factory(graceful_timeout_seconds="2", job_lease_seconds=LEASE_SECONDS)
    content = os.urandom(4 * MIB)
    created = requests.post(
        f"{server.url}/tus/", headers={**TUS, "Upload-Length": str(len(content))}, timeout=10
    )
    assert created.status_code == 201, created.text
    tus_path = urlsplit(created.headers["Location"]).path
    patch_head = tus_patch_head(tus_path, len(content))
    put_head = request_bytes("PUT", "/upload/cut.bin", headers={"Content-Length": str(4 * MIB)})
    slow = [
        SlowBody(server.url, patch_head, content, pause=0.2),
        SlowBody(server.url, put_head, os.urandom(4 * MIB), pause=0.2),
    ]
    for body in slow:
        body.start()
    assert eventually(lambda: all(b.sent >= 4 * PIECE for b in slow), timeout=10)
    sent_at = sigterm(server)
    seconds = exit_seconds(server, sent_at, limit=15)
    assert seconds < 2 + 5, server.logs()  # the graceful time, and the master's stop
    for body in slow:
        body.join(timeout=30)
        assert body.reply is None and body.error is not None  # cut off, not answered
    # Left for the next start: the tus upload with what arrived, the PUT's job unfinished.
    jobs = stored_jobs(server.data_dir)
    tus_id = tus_path.rsplit("/", 1)[1]
    assert jobs[tus_id]["state"] == "receiving"
    kept = Path(jobs[tus_id]["spool_path"]).stat().st_size
    assert 0 < kept < len(content)
    assert {job["state"] for job in jobs.values()} <= {"receiving"}

    restarted = server_factory(data_dir=str(server.data_dir))
    head = requests.head(f"{restarted.url}{tus_path}", headers=TUS, timeout=10)
    assert head.status_code == 200 and int(head.headers["Upload-Offset"]) == kept
    # The killed PATCH still holds the upload's lease until it runs out: meanwhile a
    # PATCH is told 423 (retry soon), as a tus client expects; then it goes through.
    resumed: list[requests.Response] = []

    def patched() -> bool:
        resumed.append(tus_patch(f"{restarted.url}{tus_path}", kept, content[kept:]))
        return resumed[-1].status_code != 423

    assert eventually(patched, timeout=float(LEASE_SECONDS) + 10, interval=0.5)
    assert resumed[-1].status_code == 204, resumed[-1].text
    view = wait_for_job(restarted, tus_id)
    assert view["state"] == "done"
    assert view["sha256"] == hashlib.sha256(content).hexdigest()
    assert requests.get(view["link"], timeout=30).content == content
    restarted.stop()

    # Retention bounds the receiving job no client can finish (here 1.8 s); the stored
    # tus upload keeps its job (its delete link), as every stored upload does.
    others = [job for job_id, job in jobs.items() if job_id != tus_id]
    purging = server_factory(data_dir=str(server.data_dir), retention_hours="0.0005")
    assert eventually(lambda: set(stored_jobs(server.data_dir)) == {tus_id}, timeout=20), (
        stored_jobs(server.data_dir)
    )
    for job in others:
        assert not Path(job["spool_path"]).exists()
    assert requests.get(f"{purging.url}/status/{tus_id}", timeout=5).json()["state"] == "done"


def test_sigterm_during_a_transfer_hands_the_job_back(server_factory, sim: MegaSim) -> None:
    """A 6 MiB transfer throttled to 512 KiB/s: on SIGTERM the worker, with no request
    in flight, gives the transfer up and queues the job with its lease released; the
    next start finishes it at once (no lease to wait for)."""
    mega = {"mega_api_url": sim.url, "mega_email": V2_EMAIL, "mega_password": V2_PASSWORD}
    server = server_factory(graceful_timeout_seconds="30", job_lease_seconds="30", **mega)
    content = os.urandom(6 * MIB)
    sim.throttle(512 * 1024)
    # PUT, not multipart: a multipart upload answered 202 loses its pipelined transfer
    # at once (the request's close() closes the finished spool writer, which marks it
    # incomplete again: ReceiveAborted), and is restarted only by a later takeover.
    reply = requests.put(
        f"{server.url}/upload/slow.bin",
        data=content,
        headers={"Prefer": "respond-async", "Accept": "application/json"},
        timeout=30,
    )
    assert reply.status_code == 202, reply.text
    job_id = reply.json()["id"]

    def transferring() -> bool:
        """Mid-transfer: the job says so and the emulator is receiving its body."""
        view = requests.get(f"{server.url}/status/{job_id}", timeout=10).json()
        pending = sim.state()["pending_uploads"]
        return view["state"] == "transferring" and any(not u["complete"] for u in pending)

    assert eventually(transferring, timeout=30, interval=0.2), server.logs()[-3000:]
    time.sleep(2)  # a couple of seconds into its 12
    sent_at = sigterm(server)
    seconds = exit_seconds(server, sent_at, limit=40)
    # Inside the window. Not at once: a transfer sees the stop between two POSTs to
    # MEGA (up to 8 MiB each), and this one's only POST had most of its 12 s to go.
    assert seconds < 30, server.logs()[-3000:]
    job = stored_jobs(server.data_dir)[job_id]
    assert (job["state"], job["lease_owner"]) == ("queued", None), job
    assert Path(job["spool_path"]).exists()

    sim.throttle(0)
    started = time.monotonic()
    restarted = server_factory(data_dir=str(server.data_dir), **mega)
    view = wait_for_job(restarted, job_id)
    # Resumed at once, not after the 30 s lease a killed worker would have left.
    assert time.monotonic() - started < 20
    assert (view["state"], view["attempts"]) == ("done", 2), view
    assert download(sim, view["link"]) == content
