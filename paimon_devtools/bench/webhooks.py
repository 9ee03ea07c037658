"""``scripts/bench --webhooks EVENTS``: webhook delivery (issue 30), on a deployed-style
gunicorn (2 workers, SQLite, local storage) and a receiver on 127.0.0.1.

- Delay: EVENTS uploads, 4 at a time; for each ``upload.stored`` event, the time from
  the write that stored the job (the event's ``timestamp``) to the receiver having it.
- Rate: a backlog of EVENTS deliveries written into the outbox at once (one SQLite
  transaction, as the stores' own writes do it), drained by the running server's
  senders: deliveries per second, from the write to the last one received.
- Dead endpoint: a server whose endpoint refuses every connection (a 127.0.0.1 port
  nothing listens on), idle for a while, then with BACKLOG deliveries written into its
  outbox: its processes' RSS and CPU seconds per second in both windows, the attempts
  made, and /healthz's latency meanwhile.
"""

from __future__ import annotations

import base64
import sqlite3
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import requests

from paimon.jobs import sqlite_outbox
from paimon.jobs.outbox import STORED, Announcement, DeliveryState, snapshot
from paimon.jobs.sqlite import SqliteJobStore
from paimon_devtools.bench.rss import memory_kib, workers_of
from paimon_devtools.receiver import Receiver
from paimon_devtools.servers import ServerProcess, eventually, free_port, start_server

BACKLOG = 10_000
IDLE_SECONDS = 20.0  # the dead-endpoint server before its backlog: the baseline
BACKLOG_SECONDS = 60.0  # and with it
UPLOADS_AT_ONCE = 4
SECRET = "whsec_" + base64.b64encode(b"bench-webhook-secret-0123456789").decode()
CLOCK_TICKS = 100  # os.sysconf("SC_CLK_TCK") on Linux


def settings(url: str) -> dict[str, str]:
    return {
        "webhook_urls": url,
        "webhook_secret": SECRET,
        "webhook_allow_private": "true",
        "rate_limit_uploads": "",  # the uploads here are the bench's, all from one client
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(fraction * len(ordered)), len(ordered) - 1)]


def processes(server: ServerProcess) -> list[int]:
    return [server.process.pid, *workers_of(server.process.pid)]


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of these processes so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def rss_mib(pids: list[int]) -> float:
    return sum(memory_kib(pid)["VmRSS"] for pid in pids) / 1024


def load() -> list[float]:
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


def write_backlog(data_dir: Path, endpoint: str, count: int) -> float:
    """``count`` pending upload.stored deliveries to ``endpoint``, in one transaction;
    when they were written."""
    store = SqliteJobStore(data_dir / "jobs.sqlite3")  # the schema, as the server has it
    store.close()
    now = time.time()
    job = {"id": "bench", "filename": "b.bin", "backend": "local", "state": "done", "size": 1}
    note = Announcement(event=STORED, endpoints=(endpoint,) * count, give_up_at=now + 86400)
    deliveries = note.deliveries("bench", snapshot(job), now)
    connection = sqlite3.connect(data_dir / "jobs.sqlite3", isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        sqlite_outbox.insert(connection, deliveries)
        connection.execute("COMMIT")
    finally:
        connection.close()
    return now


def delay_and_rate(workdir: Path, events: int) -> dict[str, object]:
    receiver = Receiver()
    (workdir / "live").mkdir()
    server = start_server(workdir / "live", **settings(receiver.url))
    try:
        with ThreadPoolExecutor(UPLOADS_AT_ONCE) as pool:
            list(
                pool.map(
                    lambda n: requests.post(
                        f"{server.url}/upload",
                        files={"file": (f"{n}.bin", b"x" * 1000)},
                        timeout=60,
                    ).raise_for_status(),
                    range(events),
                )
            )
        if not eventually(lambda: len(receiver.received) >= events, timeout=120):
            raise RuntimeError(f"{len(receiver.received)} of {events} events arrived")
        delays = [
            r.at - datetime.fromisoformat(r.event["timestamp"]).timestamp()
            for r in receiver.received
        ]
        receiver.received.clear()
        written = write_backlog(server.data_dir, receiver.url, events)
        if not eventually(lambda: len(receiver.received) >= events, timeout=600):
            raise RuntimeError(f"{len(receiver.received)} of {events} backlog deliveries")
        drained = max(r.at for r in receiver.received) - written
    finally:
        server.stop()
        receiver.close()
    return {
        "events": events,
        "delay_p50_ms": percentile(delays, 0.5) * 1000,
        "delay_p99_ms": percentile(delays, 0.99) * 1000,
        "delay_max_ms": max(delays) * 1000,
        "backlog_drained_per_s": events / drained,
    }


def healthz_ms(server: ServerProcess, count: int = 20) -> float:
    times = []
    for _ in range(count):
        started = time.monotonic()
        requests.get(f"{server.url}/healthz", timeout=10).raise_for_status()
        times.append(time.monotonic() - started)
        time.sleep(0.1)
    return statistics.median(times) * 1000


def window(server: ServerProcess, seconds: float) -> dict[str, float]:
    """CPU seconds per second, and the RSS at the end and its peak seen, over ``seconds``."""
    pids = processes(server)
    cpu_before, started = cpu_seconds(pids), time.monotonic()
    peak = 0.0
    while time.monotonic() - started < seconds:
        peak = max(peak, rss_mib(pids))
        time.sleep(0.5)
    cpu = (cpu_seconds(pids) - cpu_before) / (time.monotonic() - started)
    return {"cpu_per_s": cpu, "rss_mib": rss_mib(pids), "rss_peak_mib": peak}


def dead_endpoint_backlog(workdir: Path) -> dict[str, object]:
    dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: refused at once
    (workdir / "dead").mkdir()
    server = start_server(workdir / "dead", **settings(dead))
    try:
        idle = window(server, IDLE_SECONDS)
        idle_healthz = healthz_ms(server)
        write_backlog(server.data_dir, dead, BACKLOG)
        stop = threading.Event()
        health: list[float] = []

        def probe() -> None:
            while not stop.wait(2):
                health.append(healthz_ms(server, 5))

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        busy = window(server, BACKLOG_SECONDS)
        stop.set()
        prober.join()
        store = SqliteJobStore(server.data_dir / "jobs.sqlite3")
        try:
            counts = store.delivery_counts()
        finally:
            store.close()
        with sqlite3.connect(server.data_dir / "jobs.sqlite3") as connection:
            (attempts,) = connection.execute("SELECT SUM(attempts) FROM deliveries").fetchone()
        log_lines = sum("paimon.webhooks" in line for line in server.logs().splitlines())
    finally:
        server.stop()
    return {
        "backlog": BACKLOG,
        "idle_seconds": IDLE_SECONDS,
        "backlog_seconds": BACKLOG_SECONDS,
        "idle": idle | {"healthz_ms": idle_healthz},
        "with_backlog": busy | {"healthz_ms": statistics.median(health) if health else None},
        "attempts": attempts,
        "pending_at_end": counts[DeliveryState.PENDING],
        "log_lines": log_lines,
    }


def webhook_bench(workdir: Path, events: int) -> dict[str, object]:
    load_before = load()
    results = {
        "delay_and_rate": delay_and_rate(workdir, events),
        "dead_endpoint": dead_endpoint_backlog(workdir),
    }
    return results | {"load_before": load_before, "load_after": load()}


def webhook_table(results: dict[str, object]) -> str:
    live: dict = results["delay_and_rate"]  # type: ignore[assignment]
    dead: dict = results["dead_endpoint"]  # type: ignore[assignment]
    idle, busy = dead["idle"], dead["with_backlog"]
    delays = " / ".join(f"{live[k]:.0f}" for k in ("delay_p50_ms", "delay_p99_ms", "delay_max_ms"))
    loads = [", ".join(f"{v:.2f}" for v in results[k]) for k in ("load_before", "load_after")]
    rows = [
        (f"webhooks, {live['events']} events to a receiver on 127.0.0.1", ""),
        ("  stored -> delivered, p50 / p99 / max", f"{delays} ms"),
        ("  a backlog drained", f"{live['backlog_drained_per_s']:.0f} deliveries/s"),
        (f"  {dead['backlog']} pending to a dead endpoint, {dead['backlog_seconds']:g} s", ""),
        (
            "    RSS, all processes: idle / backlog (peak)",
            f"{idle['rss_mib']:.0f} / {busy['rss_mib']:.0f} ({busy['rss_peak_mib']:.0f}) MiB",
        ),
        (
            "    CPU seconds per second: idle / backlog",
            f"{idle['cpu_per_s']:.3f} / {busy['cpu_per_s']:.3f}",
        ),
        ("    attempts made, still pending", f"{dead['attempts']}, {dead['pending_at_end']}"),
        ("    the sender's log lines", f"{dead['log_lines']}"),
        (
            "    /healthz median: idle / backlog",
            f"{idle['healthz_ms']:.1f} / {busy['healthz_ms'] or float('nan'):.1f} ms",
        ),
        ("load average before / after", " / ".join(loads)),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
