"""Shaped paths: the emulator shaped like a long path to MEGA, in the same run as the
loopback figures. Issue 17's (50 ms before each answer, 3 MB/s per connection, 24 MB/s
in all), one file for Paimon end to end through both doors and for stock mega.py; issue
29's two longer, thinner ones (100 ms, 10 MB/s per connection, 100 MB/s in all; 150 ms,
2 MB/s, 50 MB/s), a bigger file through both doors, with how many POSTs the server's
uploader kept on the wire, its buffers and the worker's peak RSS growth meanwhile; and
what a transfer SIGKILLed at 60% on issue 17's path sends again once it resumes."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import requests

from paimon.jobs.owners import owner_parts
from paimon.jobs.sqlite import SqliteJobStore
from paimon_devtools.bench.plan import MB, MIB, make_file
from paimon_devtools.bench.rig import Rig
from paimon_devtools.bench.rss import peak_during
from paimon_devtools.bench.stock import stock
from paimon_devtools.bench.throughput import end_to_end

SHAPE = {"latency_ms": 50, "connection_bytes_per_second": 3 * 10**6, "bytes_per_second": 24 * 10**6}
#: Issue 29's paths, on which a fixed 16 connections and 20 MiB of buffers fell short.
LONG_PATHS = (
    {"latency_ms": 100, "connection_bytes_per_second": 10 * 10**6, "bytes_per_second": 10**8},
    {"latency_ms": 150, "connection_bytes_per_second": 2 * 10**6, "bytes_per_second": 5 * 10**7},
)


def shaped_path(rig: Rig) -> dict[str, object]:
    """One upload each (the path, not the CPU, sets the pace); the emulator unshaped after."""
    path = make_file(rig.files / "shaped.bin", rig.plan.shaped_bytes)
    rig.sim.network(**SHAPE)
    try:
        figures = {door: _through(rig, door, path) for door in ("paimon", "paimon_put")}
        figures["stock"] = stock(rig, path)
    finally:
        rig.sim.network()
        path.unlink()
    return {"shape": SHAPE, "path_mb_per_s": SHAPE["bytes_per_second"] / MB, **figures}


def long_paths(rig: Rig) -> list[dict[str, object]]:
    """Each of LONG_PATHS: one upload through each door (stock mega.py, a connection
    per chunk, would take minutes there); the emulator unshaped after."""
    path = make_file(rig.files / "long.bin", rig.plan.long_path_bytes)
    figures = []
    try:
        for shape in LONG_PATHS:
            rig.sim.network(**shape)
            try:
                doors = {door: _through(rig, door, path) for door in ("paimon", "paimon_put")}
            finally:
                rig.sim.network()
            figures.append(
                {"shape": shape, "path_mb_per_s": shape["bytes_per_second"] / MB, **doors}
            )
    finally:
        path.unlink()
    return figures


def _through(rig: Rig, door: str, path: Path) -> dict[str, object]:
    """One upload through ``door`` ("paimon" is multipart, "paimon_put" PUT): its rate,
    what the server's uploader said of the transfer, and the worker's RSS meanwhile."""
    sent: dict[str, object] = {}
    rss = peak_during(
        rig,
        lambda: sent.update(
            end_to_end(rig, "put" if door == "paimon_put" else "multipart", path, runs=1)
        ),
    )
    return sent | {"transfer": last_transfer(rig), "worker_rss_growth_mib": rss["growth_mib"]}


def last_transfer(rig: Rig) -> dict[str, float]:
    """The server's uploader's own figures for its last transfer (its log line): most
    POSTs on the wire at once, its buffers (arena touched and MAC scratches) and the POSTs
    its window allowed, each time that changed."""
    for line in reversed(rig.server.logs().splitlines()):
        if '"mega_buffer_bytes"' in line:
            entry = json.loads(line)
            return {
                "posts_on_the_wire": entry["mega_posts_on_the_wire"],
                "buffer_mib": entry["mega_buffer_bytes"] / MIB,
                "seconds": entry["mega_seconds"],
                "limits": entry["mega_limits"],
            }
    raise RuntimeError("the server logged no MEGA transfer")


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
