"""The shaped path: one file over the emulator shaped like a long path to MEGA (50 ms
before each answer, 3 MB/s per connection, 24 MB/s in all), for Paimon end to end
through both doors and for stock mega.py, in the same run as the loopback figures;
and what a transfer SIGKILLed at 60% on that path sends again once it resumes."""

from __future__ import annotations

import os
import signal
import time

import requests

from paimon.jobs.owners import owner_parts
from paimon.jobs.sqlite import SqliteJobStore
from paimon_devtools.bench.plan import MB, make_file
from paimon_devtools.bench.rig import Rig
from paimon_devtools.bench.stock import stock
from paimon_devtools.bench.throughput import end_to_end

SHAPE = {"latency_ms": 50, "connection_bytes_per_second": 3 * 10**6, "bytes_per_second": 24 * 10**6}


def shaped_path(rig: Rig) -> dict[str, object]:
    """One upload each (the path, not the CPU, sets the pace); the emulator unshaped after."""
    path = make_file(rig.files / "shaped.bin", rig.plan.shaped_bytes)
    rig.sim.network(**SHAPE)
    try:
        figures = {
            "paimon": end_to_end(rig, "multipart", path, runs=1),
            "paimon_put": end_to_end(rig, "put", path, runs=1),
            "stock": stock(rig, path),
        }
    finally:
        rig.sim.network()
        path.unlink()
    return {"shape": SHAPE, "path_mb_per_s": SHAPE["bytes_per_second"] / MB, **figures}


#: Where the transfer's worker is SIGKILLed: this share of the file acknowledged by MEGA.
KILL_AT = 0.6


def resume_after_kill(rig: Rig) -> dict[str, object]:
    """Send ``plan.resume_bytes`` (202 at once), SIGKILL the worker holding its job once
    MEGA acknowledged 60% of it, and count the upload bytes the emulator received until
    the job is done: the share of the file sent again (0 would be a perfect resume; the
    file sent from 0 again would be 0.6 and more)."""
    size = rig.plan.resume_bytes
    path = make_file(rig.files / "resumed.bin", size)
    jobs = SqliteJobStore(rig.server.data_dir / "jobs.sqlite3")
    rig.sim.network(**SHAPE)
    try:
        before = rig.sim.state()["transfers"]["bytes_received"]
        with path.open("rb") as body:
            reply = requests.post(
                f"{rig.server.url}/upload",
                files={"file": ("resumed.bin", body)},
                headers={"Prefer": "respond-async"},
                timeout=600,
            )
        reply.raise_for_status()
        job_id = reply.json()["id"]
        while (job := jobs.get(job_id)) is not None and job.bytes_stored < KILL_AT * size:
            time.sleep(0.01)
        holder = owner_parts(job.lease_owner or "") if job is not None else None
        if job is None or holder is None or job.state != "transferring":
            raise RuntimeError(f"the transfer was not running at {KILL_AT:.0%}: {job}")
        killed_at = job.bytes_stored
        os.kill(holder[2], signal.SIGKILL)
        started = time.monotonic()
        while (job := jobs.get(job_id)) is not None and job.state not in ("done", "failed"):
            time.sleep(0.1)
        if job is None or job.state != "done":
            raise RuntimeError(f"the resumed transfer did not finish: {job}")
        sent = rig.sim.state()["transfers"]["bytes_received"] - before
    finally:
        rig.sim.network()
        jobs.close()
        path.unlink()
    return {
        "bytes": size,
        "killed_at_bytes": killed_at,
        "resumed_from": job.resumed_from or 0,
        "sent_bytes": sent,
        "sent_again_fraction": (sent - size) / size,
        "seconds_after_kill": time.monotonic() - started,
    }
