"""The owner's listing at scale (``scripts/bench --listing``): each job store filled with
100,000 jobs, then pages of 50, newest first and filtered by a name prefix, read from
the store itself and through ``GET /api/uploads`` of a deployed-style gunicorn; p50 and
p99 of each, against the target (p99 at most 50 ms).

The jobs look like an upload server's: names from screenshots, phone photos, reports
and invoices, with numbers; a few failed; created over 90 days. Pages are read from the
newest and from random points deep in the listing (a cursor at a random job), so a deep
page costs what the first does or the figures say otherwise. The SQLite file lives on
/dev/shm when there is one: 100,000 inserts with an fsync each would take many minutes
on a disk and measure nothing the listing does (its reads never fsync).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from paimon.jobs.listing import Cursor, JobListing, JobQuery
from paimon.jobs.model import Job, JobState, new_job_id
from paimon.jobs.redis import RedisJobStore
from paimon.jobs.sqlite import SqliteJobStore
from paimon.jobs.store import JobStore
from paimon_devtools.bench.report import machine
from paimon_devtools.redis import RedisServer
from paimon_devtools.servers import await_healthy, launch_server

TARGET_P99_MS = 50.0
PAGE = 50
SAMPLES = 200
DAYS = 90
ADMIN_TOKEN = "bench-owner-token-0123456789"  # noqa: S105 (the benchmark's own server)
#: Name prefixes queried: one a third of the names share, one of three letters a sixth
#: share (both walk the time-ordered index, checking names), and one about one name in
#: 4,000 starts with (read from the name index and sorted).
PREFIXES = {"common": "img_", "three letters": "scr", "rare": "invoice-42"}


class Store(JobStore, JobListing):
    """A job store with the listing (both are)."""


def name_of(rng: random.Random, n: int) -> str:
    kind = n % 6
    if kind in (0, 1):
        return f"IMG_{20260000 + n % 10_000}_{n}.jpg"
    if kind == 2:
        return f"Screenshot 2026-{1 + n % 12:02d}-{1 + n % 28:02d} at {n % 24}.{n % 60}.png"
    if kind == 3:
        return f"invoice-{n % 5000}.pdf"
    if kind == 4:
        return f"report {rng.choice(['Q1', 'Q2', 'Q3', 'Q4'])} {n}.xlsx"
    word = rng.choice(["holiday", "notes", "backup", "video", "scan"])
    return f"{word}-{n}.{rng.choice(['zip', 'mp4', 'txt'])}"


def jobs(count: int, seed: int = 33) -> Iterator[Job]:
    """Uploads stored (with a delete link, so retention keeps them), a few failed."""
    rng = random.Random(seed)  # noqa: S311 (names and sizes, not secrets)
    start = time.time() - DAYS * 86_400
    for n in range(count):
        created = start + n * (DAYS * 86_400 / count) + rng.random()
        failed = n % 50 == 0
        yield Job(
            id=new_job_id(),
            filename=name_of(rng, n),
            backend="mega",
            state=JobState.FAILED if failed else JobState.DONE,
            size=rng.randrange(1, 50_000_000),
            uploader_label=rng.choice(["ci", "phone", None]),
            delete_digest=f"{n:064x}",
            created_at=created,
            updated_at=created,
        )


def fill(store: Store, count: int) -> tuple[float, list[Cursor]]:
    """Create ``count`` jobs (four threads: the stores take writes from many); the
    seconds it took, and a cursor at each job."""
    made: list[Job] = list(jobs(count))
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(store.create, made, chunksize=256))
    return time.perf_counter() - started, [Cursor(job.created_at, job.id) for job in made]


@dataclass(frozen=True)
class Query:
    name: str
    prefix: str | None
    deep: bool  # from a random job's cursor rather than the newest


QUERIES = [
    Query("newest", None, deep=False),
    Query("newest, deep", None, deep=True),
    *(Query(f"name prefix, {kind}", prefix, deep=False) for kind, prefix in PREFIXES.items()),
    Query("name prefix, common, deep", PREFIXES["common"], deep=True),
]


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, round(0.99 * len(ordered)) - 1)] * 1000,
        "samples": len(ordered),
    }


def timed_pages(
    read: Callable[[Query, Cursor | None], int], cursors: list[Cursor], samples: int
) -> dict:
    """Each query ``samples`` times: its p50, p99, and how many jobs its pages held."""
    rng = random.Random(7)  # noqa: S311 (which cursors, not secrets)
    for query in QUERIES:  # warm every worker's connections and caches first
        for _ in range(5):
            read(query, None)
    figures = {}
    for query in QUERIES:
        durations, cpu, sizes = [], [], []
        for _ in range(samples):
            after = rng.choice(cursors) if query.deep else None
            started, started_cpu = time.perf_counter(), time.thread_time()
            sizes.append(read(query, after))
            durations.append(time.perf_counter() - started)
            cpu.append(time.thread_time() - started_cpu)
        figures[query.name] = percentiles(durations) | {
            "mean_page": statistics.mean(sizes),
            # This thread's CPU time: what a page costs the client side (the whole store
            # for SQLite) whatever else the machine runs.
            "cpu_p50_ms": statistics.median(cpu) * 1000,
        }
    return figures


def store_reads(store: Store) -> Callable[[Query, Cursor | None], int]:
    def read(query: Query, after: Cursor | None) -> int:
        return len(store.list_jobs(JobQuery(name=query.prefix, limit=PAGE, after=after)).jobs)

    return read


def api_reads(url: str) -> Callable[[Query, Cursor | None], int]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"

    def read(query: Query, after: Cursor | None) -> int:
        params = {"limit": str(PAGE)}
        if query.prefix:
            params["q"] = query.prefix
        if after is not None:
            params["cursor"] = after.encode()
        reply = session.get(f"{url}/api/uploads", params=params, timeout=30)
        reply.raise_for_status()
        return len(reply.json()["uploads"])

    return read


@contextmanager
def scratch() -> Iterator[Path]:
    shm = Path("/dev/shm")  # noqa: S108 (a scratch directory of our own inside it)
    with tempfile.TemporaryDirectory(
        prefix="paimon-bench-listing-", dir=shm if shm.is_dir() else None
    ) as where:
        yield Path(where)


def measure(store: Store, count: int, samples: int, workdir: Path, **server_settings: str) -> dict:
    seconds, cursors = fill(store, count)
    results: dict = {
        "jobs": count,
        "fill_seconds": seconds,
        "store": timed_pages(store_reads(store), cursors, samples),
    }
    server = await_healthy(
        launch_server(workdir, admin_tokens=f"owner={ADMIN_TOKEN}", **server_settings), timeout=60
    )
    try:
        results["api"] = timed_pages(api_reads(server.url), cursors, samples)
    finally:
        server.stop()
    return results


def listing(count: int, samples: int = SAMPLES) -> dict:
    """The listing benchmark in both stores: every figure, and the machine it ran on."""
    results: dict = {"machine": machine()}
    with scratch() as where:
        data = where / "sqlite-server" / "data"
        data.mkdir(parents=True)
        sqlite = SqliteJobStore(data / "jobs.sqlite3")
        try:
            results["sqlite"] = measure(sqlite, count, samples, where / "sqlite-server")
        finally:
            sqlite.close()
        (where / "redis").mkdir()
        with RedisServer.start(where / "redis") as server:
            redis_store = RedisJobStore(server.url)
            try:
                (where / "redis-server").mkdir()
                results["redis"] = measure(
                    redis_store, count, samples, where / "redis-server", redis_url=server.url
                )
            finally:
                redis_store.close()
    results["machine"]["load_average"] = os.getloadavg()
    return results


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def listing_table(results: dict) -> str:
    lines = [f"{'page of 50':34} {'p50 ms':>8} {'p99 ms':>8} {'jobs/page':>9} {'cpu ms':>7}"]
    for kind in ("sqlite", "redis"):
        figures = results[kind]
        lines.append(f"{kind}: {figures['jobs']:,} jobs, filled in {figures['fill_seconds']:.0f} s")
        for where in ("store", "api"):
            for name, figure in figures[where].items():
                mark = "" if figure["p99_ms"] <= TARGET_P99_MS else "  over the target"
                lines.append(
                    f"  {where + ', ' + name:32} {figure['p50_ms']:8.2f} {figure['p99_ms']:8.2f}"
                    f" {figure['mean_page']:9.1f} {figure['cpu_p50_ms']:7.2f}{mark}"
                )
    lines.append(f"target: p99 at most {TARGET_P99_MS:g} ms; {load()} at the end")
    return "\n".join(lines)
