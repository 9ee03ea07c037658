"""``/healthz`` latency while uploads are in flight, as an eager load balancer sees it."""

from __future__ import annotations

import http.client
import math
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from paimon_devtools.bench.client import send_concurrently
from paimon_devtools.bench.rig import Rig

HEALTHZ_UPLOADS = 4
HEALTHZ_MAX_SAMPLES = 5000
HEALTHZ_INTERVAL = 0.01  # seconds between probes, like an eager load balancer


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def probe(server_url: str) -> float:
    """Seconds one ``GET /healthz`` takes on a new connection, as a load balancer's
    check; RuntimeError unless it answers 200."""
    url = urlsplit(server_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        start = time.perf_counter()
        connection.request("GET", "/healthz")
        status = connection.getresponse().status
        seconds = time.perf_counter() - start
    finally:
        connection.close()
    if status != 200:
        raise RuntimeError(f"/healthz answered {status} under load")
    return seconds


def probe_until(server_url: str, done: Callable[[], bool]) -> list[float]:
    """``probe`` every HEALTHZ_INTERVAL until ``done()`` (at most HEALTHZ_MAX_SAMPLES)."""
    latencies: list[float] = []
    while not done() and len(latencies) < HEALTHZ_MAX_SAMPLES:
        latencies.append(probe(server_url))
        time.sleep(HEALTHZ_INTERVAL)
    return latencies


def healthz(rig: Rig) -> dict[str, float]:
    """Probe ``/healthz`` (a new connection each time) while 4 uploads are in flight."""
    uploads = threading.Thread(
        target=send_concurrently, args=(rig.server.url, rig.main_file, HEALTHZ_UPLOADS)
    )
    uploads.start()
    time.sleep(HEALTHZ_INTERVAL)
    latencies = probe_until(rig.server.url, lambda: not uploads.is_alive())
    uploads.join()
    rig.forget_files()
    return {
        "uploads": HEALTHZ_UPLOADS,
        "upload_bytes": rig.plan.main_bytes,
        "samples": len(latencies),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000,
    }
