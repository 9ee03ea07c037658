"""Many slow clients at once: a default server (local storage, no settings but the port)
holding N uploads at 2 KiB/s each, while ``/healthz`` is probed and a 32 MiB upload is
timed against its time on the idle server; and the server's memory per held upload."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from paimon.server.worker import raise_open_files_limit
from paimon_devtools.bench.client import Refused, send_file
from paimon_devtools.bench.healthz import percentile, probe_until
from paimon_devtools.bench.plan import MIB, make_file, rate
from paimon_devtools.bench.rss import memory_kib, workers_of
from paimon_devtools.servers import REPO_ROOT, ServerProcess, start_server
from paimon_devtools.slowclients import receiving_jobs, slots_in_use

FAST_BYTES = 32 * MIB
HOLD_TIMEOUT = 60  # seconds for the crowd to be held; a server that cannot is reported
FAST_ATTEMPTS = 5  # a refused fast upload is sent again after Retry-After, as curl --retry


def server_kib(server: ServerProcess) -> int:
    """RSS of the master and every worker."""
    pids = [server.process.pid, *workers_of(server.process.pid)]
    return sum(memory_kib(pid)["VmRSS"] for pid in pids)


def fast_upload_seconds(url: str, path: Path) -> float:
    return send_file(url, path, "put").seconds


def fast_upload_under_load(url: str, path: Path) -> tuple[float, list[int]]:
    """Seconds the upload that got through took, and the statuses of the attempts
    refused before it. Near the stated capacity a refusal is the server's right answer:
    each worker holds its share of the slots, and the other worker may have one free."""
    refusals: list[int] = []
    while True:
        try:
            return fast_upload_seconds(url, path), refusals
        except Refused as refused:
            refusals.append(refused.status)
            if len(refusals) == FAST_ATTEMPTS:
                raise
            time.sleep(min(refused.retry_after, 5))


def held_crowd(server: ServerProcess, count: int, fast: Path, idle_kib: int) -> dict[str, object]:
    """``count`` slow uploads held by a process of their own (python -m
    paimon_devtools.slowclients), while this one probes and times."""
    crowd = subprocess.Popen(
        [sys.executable, "-m", "paimon_devtools.slowclients", server.url, str(count)],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert crowd.stdin is not None and crowd.stdout is not None
    try:
        if crowd.stdout.readline().strip() != "started":
            raise RuntimeError("the slow clients did not start")
        started = time.monotonic()
        deadline = started + HOLD_TIMEOUT
        held, previous = slots_in_use(server.url), -1
        # All held, or as many as the server takes (the same count a second apart).
        while held < count and held != previous and time.monotonic() < deadline:
            time.sleep(1)
            previous, held = held, slots_in_use(server.url)
        # Then every held upload past its disk reservation and job creation, which
        # run one at a time across the workers (reservations.json): steady state.
        while receiving_jobs(server.url) < held and time.monotonic() < deadline:
            time.sleep(0.2)
        admitted_seconds = time.monotonic() - started
        stop = threading.Event()
        latencies: list[float] = []
        prober = threading.Thread(
            target=lambda: latencies.extend(probe_until(server.url, stop.is_set))
        )
        prober.start()
        try:
            time.sleep(2)
            seconds, fast_refusals = fast_upload_under_load(server.url, fast)
            time.sleep(2)
        finally:
            stop.set()
            prober.join()
        held_kib = server_kib(server)
        crowd.stdin.close()
        refused = int(crowd.stdout.readline().split()[1])
    finally:
        if crowd.poll() is None:
            crowd.kill()  # its sockets close with it
        crowd.wait(timeout=60)
    deadline = time.monotonic() + HOLD_TIMEOUT
    while slots_in_use(server.url) and time.monotonic() < deadline:
        time.sleep(0.2)
    return {
        "slow_uploads": count,
        "held": held,
        "refused": refused,
        "admitted_seconds": admitted_seconds,
        "healthz_samples": len(latencies),
        "healthz_p50_ms": percentile(latencies, 0.50) * 1000,
        "healthz_p99_ms": percentile(latencies, 0.99) * 1000,
        "fast_seconds": seconds,
        "fast_refusals": fast_refusals,
        "fast_mb_per_s": rate(FAST_BYTES, seconds),
        "server_mib": held_kib / 1024,
        "kib_per_held_upload": (held_kib - idle_kib) / max(1, held),
    }


def slow_clients(workdir: Path, counts: tuple[int, ...]) -> dict[str, object]:
    """The figures for each crowd size, on one server started as a newcomer starts it."""
    raise_open_files_limit(4 * max(counts) + 1024)
    (workdir / "slow-clients").mkdir()
    server = start_server(workdir / "slow-clients", workers=str(os.cpu_count() or 1))
    try:
        fast = make_file(workdir / "fast.bin", FAST_BYTES)
        fast_upload_seconds(server.url, fast)  # warm up both workers' first upload
        unloaded = min(fast_upload_seconds(server.url, fast) for _ in range(3))
        idle_kib = server_kib(server)
        crowds = [held_crowd(server, count, fast, idle_kib) for count in counts]
    finally:
        server.stop()
    for crowd in crowds:
        crowd["fast_over_unloaded"] = unloaded / crowd["fast_seconds"]
    return {
        "rate_bytes_per_s": 2048,
        "fast_bytes": FAST_BYTES,
        "unloaded_fast_mb_per_s": rate(FAST_BYTES, unloaded),
        "idle_server_mib": idle_kib / 1024,
        "crowds": crowds,
    }
