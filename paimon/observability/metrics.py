"""Paimon's Prometheus metrics and the ``/metrics`` exposition.

Counters and histograms are module globals, shared by a process's threads. Under
gunicorn they are prometheus_client multiprocess values (``multiproc.py``), summed over
every worker, live or dead, at each scrape; elsewhere (Flask's test client, a script)
they live in this process's registry. Labels are bounded: Flask endpoint names, never
paths; no job ids.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from paimon.observability.multiproc import ENV

log = logging.getLogger(__name__)

#: This process's own metrics; scraped directly only outside multiprocess mode.
PROCESS_REGISTRY = CollectorRegistry()

UPLOADS = Counter(
    "paimon_uploads",
    "Uploads by outcome: done or failed (a transfer attempt's end), refused (before the "
    "body was read), abandoned (the body never completed).",
    ["outcome", "backend"],
    registry=PROCESS_REGISTRY,
)
UPLOAD_SLOTS_IN_USE = Gauge(
    "paimon_upload_slots_in_use",
    "Request bodies being received now (upload slots taken), summed over live workers.",
    registry=PROCESS_REGISTRY,
    multiprocess_mode="livesum",
)
RECEIVED_BYTES = Counter(
    "paimon_received_bytes",
    "Bytes of upload bodies received whole and fsynced in the spool.",
    registry=PROCESS_REGISTRY,
)
STORED_BYTES = Counter(
    "paimon_stored_bytes",
    "Bytes the storage backend confirmed.",
    ["backend"],
    registry=PROCESS_REGISTRY,
)
TRANSFER_SECONDS = Histogram(
    "paimon_transfer_seconds",
    "Time a transfer attempt took, spool file to confirmed object (or failure).",
    ["backend", "outcome"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=PROCESS_REGISTRY,
)
MEGA_API_ERRORS = Counter(
    "paimon_mega_api_errors",
    "Negative codes MEGA's API answered, retried ones included.",
    ["code"],
    registry=PROCESS_REGISTRY,
)
MEGA_HASHCASH_CHALLENGES = Counter(
    "paimon_mega_hashcash_challenges",
    "Proof-of-work (HTTP 402 hashcash) challenges MEGA sent, by outcome: solved or failed.",
    ["outcome"],
    registry=PROCESS_REGISTRY,
)
MEGA_HASHCASH_SECONDS = Histogram(
    "paimon_mega_hashcash_solve_seconds",
    "Time spent solving one MEGA hashcash challenge, failed attempts included.",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120),
    registry=PROCESS_REGISTRY,
)
WEBHOOKS = Counter(
    "paimon_webhooks",
    "Webhook deliveries settled: sent (the endpoint answered 2xx) or failed for good.",
    ["outcome"],
    registry=PROCESS_REGISTRY,
)
HTTP_REQUESTS = Counter(
    "paimon_http_requests",
    "HTTP requests answered, by method, Flask endpoint and status.",
    ["method", "endpoint", "status"],
    registry=PROCESS_REGISTRY,
)
HTTP_SECONDS = Histogram(
    "paimon_http_request_seconds",
    "Time from a request's start to its response's last byte.",
    ["method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
    registry=PROCESS_REGISTRY,
)

#: MEGA's codes run from -1 to about -30; anything stranger shares one label value.
_LOWEST_MEGA_CODE = -100


def count_mega_api_error(code: int) -> None:
    MEGA_API_ERRORS.labels(str(code) if code >= _LOWEST_MEGA_CODE else "other").inc()


class JobsCollector:
    """``paimon_jobs{state}`` (or another count by state: the webhook deliveries'),
    read from the job store at scrape time: the store is shared, so the answer is right
    whichever worker gives it."""

    def __init__(
        self,
        counts: Callable[[], Mapping[str, int]],
        name: str = "paimon_jobs",
        documentation: str = "Jobs in the job store by state.",
    ):
        self._counts = counts
        self._name = name
        self._documentation = documentation

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self._counts()
        except Exception as exc:  # the store is down: the other metrics still count
            log.warning("%s unavailable for /metrics: %s", self._name, type(exc).__name__)
            return
        family = GaugeMetricFamily(self._name, self._documentation, labels=["state"])
        for state, count in counts.items():
            family.add_metric([str(state)], count)
        yield family


class WorkerFilesCollector(MultiProcessCollector):
    """The workers' summed metrics, skipping metric files that are still empty.

    prometheus-client creates a worker's file before sizing it, so a scrape can find
    it at 0 bytes and fail whole with struct.error; a worker killed in that instant
    leaves it empty for good, failing every later scrape (prometheus/client_python
    issue 1199, unfixed in the locked 0.26). An empty file holds no samples yet, so
    leaving it out loses nothing.
    """

    def collect(self) -> Iterable[Metric]:
        files = []
        for path in Path(self._path).glob("*.db"):
            with contextlib.suppress(FileNotFoundError):  # a dead worker's, just removed
                if path.stat().st_size > 0:
                    files.append(str(path))
        return self.merge(files, accumulate=True)


class StorageSpaceCollector:
    """``paimon_storage_space_bytes{kind}``: the storage account's used, total, free and
    promised bytes, as admission counts them (paimon/uploads/quota.py), at scrape time."""

    def __init__(self, space: Callable[[], Mapping[str, int] | None]):
        self._space = space

    def collect(self) -> Iterator[Metric]:
        try:
            space = self._space()
        except Exception as exc:  # the ledger's disk: the other metrics still count
            log.warning("storage space unavailable for /metrics: %s", type(exc).__name__)
            return
        if not space:
            return
        family = GaugeMetricFamily(
            "paimon_storage_space_bytes",
            "The storage account's bytes by kind: used and total (MEGA's uq), promised "
            "to uploads under way, and free (total less used and promised).",
            labels=["kind"],
        )
        for kind, count in space.items():
            family.add_metric([kind], count)
        yield family


def exposition(
    job_counts: Callable[[], Mapping[str, int]],
    delivery_counts: Callable[[], Mapping[str, int]] | None = None,
    storage_space: Callable[[], Mapping[str, int] | None] | None = None,
) -> bytes:
    """The text format of every metric: all workers' sums under gunicorn, this
    process's values otherwise, and the job (and webhook delivery) counts."""
    registry = CollectorRegistry()
    if os.environ.get(ENV):
        WorkerFilesCollector(registry)
    else:
        registry.register(PROCESS_REGISTRY)
    registry.register(JobsCollector(job_counts))
    if delivery_counts is not None:
        registry.register(
            JobsCollector(
                delivery_counts,
                "paimon_webhook_deliveries",
                "Webhook deliveries in the job store by state: pending (to be sent or "
                "tried again), sent, failed (kept for PAIMON_RETENTION_HOURS).",
            )
        )
    if storage_space is not None:
        registry.register(StorageSpaceCollector(storage_space))
    return generate_latest(registry)
