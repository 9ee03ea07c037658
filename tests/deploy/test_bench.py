"""scripts/bench --quick runs end to end and reports every figure; speed is not judged here."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from paimon_devtools.bench.client import Refused, send_file
from paimon_devtools.bench.listing import PAGE, QUERIES
from paimon_devtools.bench.plan import MIB
from paimon_devtools.slowclients import SlowUploads, slots_in_use
from tests.support.servers import REPO_ROOT, clean_environ, eventually

FIGURES = {
    "crypto_limit": ["mb_per_s", "seconds", "bytes"],
    "stock": ["mb_per_s", "seconds", "bytes"],
    "paimon": ["mb_per_s", "seconds", "bytes", "last_byte_to_link_s"],
    "paimon_put": ["mb_per_s", "seconds", "bytes", "last_byte_to_link_s"],
    "uploader_alone": ["mb_per_s", "seconds", "bytes"],
    "peak_rss": ["idle_mib", "peak_mib", "growth_mib", "workers"],
    "healthz": ["p50_ms", "p99_ms", "samples"],
    "derived": [
        "paimon_over_stock",
        "paimon_over_limit",
        "paimon_put_over_stock",
        "paimon_put_over_limit",
        "shaped_paimon_over_path",
        "shaped_paimon_put_over_path",
        "shaped_paimon_over_stock",
        "shaped_paimon_put_over_stock",
        "path_100_paimon_over_path",
        "path_100_paimon_put_over_path",
        "path_50_paimon_over_path",
        "path_50_paimon_put_over_path",
    ],
    "shaped": ["shape", "path_mb_per_s", "paimon", "paimon_put", "stock"],
    "slow_clients": ["unloaded_fast_mb_per_s", "idle_server_mib", "crowds"],
}
#: The shaped path's own figures, one upload each (paimon_devtools/bench/network.py).
SHAPED = {
    "paimon": ["mb_per_s", "seconds", "bytes", "last_byte_to_link_s"],
    "paimon_put": ["mb_per_s", "seconds", "bytes", "last_byte_to_link_s"],
    "stock": ["mb_per_s", "seconds", "bytes"],
}


#: Counts that are rightly zero on a healthy run: slow uploads the server refused.
COUNTS = frozenset({"refused"})


def numbers(value: object) -> Iterator[float]:
    """Every number in a JSON document (booleans and COUNTS are not figures)."""
    if isinstance(value, dict):
        for name, item in value.items():
            if name not in COUNTS:
                yield from numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from numbers(item)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield value


def run_bench(
    cwd: Path, *arguments: str, python_options: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """scripts/bench as a developer runs it, with no PAIMON_* setting inherited."""
    return subprocess.run(
        [sys.executable, *python_options, str(REPO_ROOT / "scripts" / "bench"), *arguments],
        cwd=cwd,
        env=clean_environ(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_quick_benchmark_reports_every_figure(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    run = run_bench(tmp_path, "--quick", "--json", str(output))
    assert run.returncode == 0, run.stderr
    assert "Paimon / stock" in run.stdout
    results = json.loads(output.read_text())
    for section, names in FIGURES.items():
        for name in names:
            assert name in results[section], f"{section}.{name} missing"
    for section, names in SHAPED.items():
        for name in names:
            assert name in results["shaped"][section], f"shaped.{section}.{name} missing"
    assert results["shaped"]["shape"] == {
        "latency_ms": 50,
        "connection_bytes_per_second": 3_000_000,
        "bytes_per_second": 24_000_000,
    }
    assert "shaped path" in run.stdout
    long_paths = results["long_paths"]  # issue 29's, beside issue 17's
    assert [path["shape"] for path in long_paths] == [
        {"latency_ms": 100, "connection_bytes_per_second": 10**7, "bytes_per_second": 10**8},
        {
            "latency_ms": 150,
            "connection_bytes_per_second": 2 * 10**6,
            "bytes_per_second": 5 * 10**7,
        },
    ]
    for path in [results["shaped"], *long_paths]:
        for door in ("paimon", "paimon_put"):
            transfer = path[door]["transfer"]  # the server's uploader's own log line
            assert transfer["posts_on_the_wire"] >= 1
            assert 0 < transfer["buffer_mib"] <= 64
            assert transfer["limits"] and all(limit >= 1 for limit in transfer["limits"])
            assert path[door]["mb_per_s"] > 0
    assert "100 MB/s in all" in run.stdout
    assert "50 MB/s in all" in run.stdout
    resume = results["resume"]  # a SIGKILLed transfer resumed, past its first byte
    assert 0 < resume["resumed_from"] < resume["bytes"] <= resume["sent_bytes"]
    assert "sent again (target <= 45%)" in run.stdout
    assert sorted(results["concurrency"], key=int) == ["1", "2", "4", "8"]
    assert all(figure["mb_per_s"] > 0 for figure in results["concurrency"].values())
    assert results["peak_rss"]["workers"] >= 1
    (crowd,) = results["slow_clients"]["crowds"]  # --quick: one crowd of 50
    assert crowd["slow_uploads"] == crowd["held"] == 50
    assert crowd["refused"] == 0
    assert "slow clients at 2 KiB/s" in run.stdout
    figures = list(numbers(results))
    assert figures
    assert all(math.isfinite(figure) and figure > 0 for figure in figures)


def test_the_listing_benchmark_reports_every_figure(tmp_path: Path) -> None:
    """scripts/bench --listing with a few jobs and samples: each store, each query, read
    from the store and through GET /api/uploads, has its p50 and p99 and full pages."""
    output = tmp_path / "listing.json"
    run = run_bench(
        tmp_path, "--listing", "--jobs", "600", "--samples", "20", "--json", str(output)
    )
    assert run.returncode == 0, run.stderr
    assert "target: p99 at most 50 ms" in run.stdout
    results = json.loads(output.read_text())
    assert sorted(results) == ["machine", "redis", "sqlite"]
    assert len(results["machine"]["load_average"]) == 3
    for store in (results["sqlite"], results["redis"]):
        assert store["jobs"] == 600 and store["fill_seconds"] > 0
        for where in ("store", "api"):
            assert sorted(store[where]) == sorted(query.name for query in QUERIES)
            for name, figure in store[where].items():
                assert 0 < figure["p50_ms"] <= figure["p99_ms"], name
                assert figure["samples"] == 20
            assert store[where]["newest"]["mean_page"] == PAGE
            assert store[where]["name prefix, common"]["mean_page"] == PAGE


def test_only_the_long_paths(tmp_path: Path) -> None:
    """``--only long-paths`` measures issue 29's two paths alone, with their ratios."""
    output = tmp_path / "bench.json"
    run = run_bench(tmp_path, "--quick", "--only", "long-paths", "--json", str(output))
    assert run.returncode == 0, run.stderr
    results = json.loads(output.read_text())
    assert set(results) == {"machine", "plan", "long_paths", "derived"}
    assert sorted(results["derived"]) == sorted(
        f"path_{path}_{door}_over_path" for path in (100, 50) for door in ("paimon", "paimon_put")
    )
    assert all(ratio > 0 for ratio in results["derived"].values())
    assert "100 MB/s in all" in run.stdout
    assert "50 MB/s in all" in run.stdout
    assert "stock" not in run.stdout


def test_only_the_thumbnails(tmp_path: Path) -> None:
    """``--only thumbnails`` times making a thumbnail and a preview from a 24 MP JPEG and
    sends it through servers with thumbnails on and off."""
    output = tmp_path / "bench.json"
    run = run_bench(tmp_path, "--quick", "--only", "thumbnails", "--json", str(output))
    assert run.returncode == 0, run.stderr
    figures = json.loads(output.read_text())["thumbnails"]
    made = figures["making"]
    assert made["make_s"] > 0 and made["thumbnail_bytes"] > 0 and made["preview_bytes"] > 0
    assert made["rss_peak_kib"] >= made["rss_before_kib"] > 0
    for where in ("loopback", "shaped"):
        assert figures[where]["on"]["mb_per_s"] > 0 and figures[where]["off"]["mb_per_s"] > 0
        assert figures[where]["on_over_off"] > 0
    assert "thumbnails off" in run.stdout


def test_the_benchmark_needs_neither_pytest_nor_the_tests(tmp_path: Path) -> None:
    """scripts/bench runs from a checkout with the runtime and dev dependencies only:
    ``--help`` imports every part of it, and none may import pytest or ``tests``."""
    run = run_bench(tmp_path, "--help", python_options=("-X", "importtime"))
    assert run.returncode == 0, run.stderr
    imported = {
        line.rpartition("|")[2].strip()
        for line in run.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "paimon_devtools.bench.throughput" in imported
    assert not {name for name in imported if name.split(".")[0] in {"tests", "pytest", "_pytest"}}


def test_a_refused_upload_is_told_apart_from_a_broken_one(server_factory, tmp_path: Path) -> None:
    """The benchmark's client reads the 503 a full server answers before the body, so a
    refusal is retried after Retry-After and reported, not taken for a crash."""
    server = server_factory(workers="1", max_concurrent_uploads="1")
    path = tmp_path / "file.bin"
    path.write_bytes(b"x" * (8 * MIB))
    crowd = SlowUploads(server.url, 1).start()
    try:
        assert eventually(lambda: slots_in_use(server.url) == 1)
        with pytest.raises(Refused) as refused:
            send_file(server.url, path, "put")
    finally:
        crowd.close()
    assert refused.value.status == 503
    assert refused.value.retry_after >= 1
    assert eventually(lambda: slots_in_use(server.url) == 0)
    assert send_file(server.url, path, "put").size == 8 * MIB
