"""What a run reports besides the measurements (the machine, the ratios the targets are
stated in) and the printed table."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from paimon_devtools.bench.plan import MIB
from paimon_devtools.bench.thumbnails import thumbnail_rows

Row = tuple[str, str]


def machine() -> dict[str, object]:
    model = next(
        (
            line.partition(":")[2].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3,
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def derived(results: dict[str, dict]) -> dict[str, float]:
    """The ratios the targets are stated in, of the parts the run measured (``--only``
    measures the shaped paths alone)."""
    ratios = {
        f"{path_name(path)}_{door}_over_path": path[door]["mb_per_s"] / path["path_mb_per_s"]
        for path in results.get("long_paths", [])
        for door in ("paimon", "paimon_put")
    }
    if "shaped" in results:
        shaped = results["shaped"]
        ratios |= {
            "shaped_paimon_over_path": shaped["paimon"]["mb_per_s"] / shaped["path_mb_per_s"],
            "shaped_paimon_put_over_path": (
                shaped["paimon_put"]["mb_per_s"] / shaped["path_mb_per_s"]
            ),
            "shaped_paimon_over_stock": shaped["paimon"]["mb_per_s"] / shaped["stock"]["mb_per_s"],
            "shaped_paimon_put_over_stock": (
                shaped["paimon_put"]["mb_per_s"] / shaped["stock"]["mb_per_s"]
            ),
        }
    if "paimon" in results:
        paimon, put = results["paimon"], results["paimon_put"]
        stock, limit = results["stock"]["mb_per_s"], results["crypto_limit"]["mb_per_s"]
        ratios |= {
            "paimon_over_stock": paimon["mb_per_s"] / stock,
            "paimon_over_limit": paimon["mb_per_s"] / limit,
            "paimon_put_over_stock": put["mb_per_s"] / stock,
            "paimon_put_over_limit": put["mb_per_s"] / limit,
        }
    return ratios


def path_name(path: dict) -> str:
    """``path_100`` for the path of 100 MB/s in all: the prefix of its derived ratios."""
    return f"path_{path['path_mb_per_s']:g}"


def _describe(path: dict) -> str:
    shape = path["shape"]
    return (
        f"{shape['latency_ms']} ms, "
        f"{shape['connection_bytes_per_second'] / 1e6:g} MB/s per connection, "
        f"{path['path_mb_per_s']:g} MB/s in all"
    )


def _transfers(path: dict) -> list[tuple[str, str]]:
    """What the server's uploader kept on the wire and in memory, through each door."""
    multipart, put = path["paimon"], path["paimon_put"]
    return [
        (
            "  POSTs on the wire at most, buffers: multipart; PUT",
            f"{multipart['transfer']['posts_on_the_wire']:8d}, "
            f"{multipart['transfer']['buffer_mib']:.1f} MiB; "
            f"{put['transfer']['posts_on_the_wire']}, {put['transfer']['buffer_mib']:.1f} MiB",
        ),
        (
            "  worker peak RSS growth: multipart, PUT",
            f"{multipart['worker_rss_growth_mib']:+8.1f}, {put['worker_rss_growth_mib']:+.1f} MiB",
        ),
    ]


def table(results: dict[str, dict]) -> str:
    """The run's figures, one row each, in the order measured (what it measured)."""
    rows = _loopback(results) if "paimon" in results else []
    if "shaped" in results:
        rows += _shaped(results)
    for path in results.get("long_paths", []):
        rows += _long_path(path, results["derived"])
    if "concurrency" in results:
        rows += _concurrency(results)
    if "slow_clients" in results:
        rows += _slow_clients(results["slow_clients"])
    if "thumbnails" in results:
        rows += thumbnail_rows(results["thumbnails"])
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _loopback(r: dict[str, dict]) -> list[Row]:
    d = r["derived"]
    size = f"{r['paimon']['bytes'] // MIB} MiB"
    return [
        (f"stock mega.py upload(), {size}", f"{r['stock']['mb_per_s']:8.1f} MB/s"),
        (f"Paimon end to end, POST multipart, {size}", f"{r['paimon']['mb_per_s']:8.1f} MB/s"),
        ("  last byte sent -> link", f"{r['paimon']['last_byte_to_link_s']:8.2f} s"),
        (
            f"Paimon end to end, PUT, {size}",
            f"{r['paimon_put']['mb_per_s']:8.1f} MB/s",
        ),
        ("  last byte sent -> link", f"{r['paimon_put']['last_byte_to_link_s']:8.2f} s"),
        (f"Paimon uploader alone, {size}", f"{r['uploader_alone']['mb_per_s']:8.1f} MB/s"),
        (
            f"crypto limit, 1 core ({r['crypto_limit']['library']})",
            f"{r['crypto_limit']['mb_per_s']:8.1f} MB/s",
        ),
        (
            "Paimon / stock: multipart, PUT",
            f"{d['paimon_over_stock']:8.1f} x, {d['paimon_put_over_stock']:.1f} x",
        ),
        (
            "Paimon / crypto limit: multipart, PUT",
            f"{d['paimon_over_limit']:8.2f}, {d['paimon_put_over_limit']:.2f}",
        ),
        (
            f"worker RSS, {r['peak_rss']['bytes'] // MIB} MiB upload: idle -> peak",
            f"{r['peak_rss']['idle_mib']:.0f} -> {r['peak_rss']['peak_mib']:.0f} MiB "
            f"(+{r['peak_rss']['growth_mib']:.1f})",
        ),
        (
            f"/healthz with {r['healthz']['uploads']} uploads: p50 / p99",
            f"{r['healthz']['p50_ms']:.1f} / {r['healthz']['p99_ms']:.1f} ms "
            f"({r['healthz']['samples']} probes)",
        ),
    ]


def _shaped(r: dict[str, dict]) -> list[Row]:
    """Issue 17's shaped path, and the resume after a SIGKILL on it if measured."""
    d, shaped = r["derived"], r["shaped"]
    shaped_size = f"{shaped['paimon']['bytes'] // MIB} MiB"
    rows = [
        (f"shaped path ({_describe(shaped)}), {shaped_size}:", ""),
        ("  stock mega.py upload()", f"{shaped['stock']['mb_per_s']:8.1f} MB/s"),
        ("  Paimon end to end, POST multipart", f"{shaped['paimon']['mb_per_s']:8.1f} MB/s"),
        ("  Paimon end to end, PUT", f"{shaped['paimon_put']['mb_per_s']:8.1f} MB/s"),
        (
            "  Paimon / path: multipart, PUT",
            f"{d['shaped_paimon_over_path']:8.2f}, {d['shaped_paimon_put_over_path']:.2f}",
        ),
        (
            "  Paimon / stock: multipart, PUT",
            f"{d['shaped_paimon_over_stock']:8.1f} x, {d['shaped_paimon_put_over_stock']:.1f} x",
        ),
        *_transfers(shaped),
    ]
    if "resume" not in r:
        return rows
    resume = r["resume"]
    return [
        *rows,
        (
            f"  {resume['bytes'] // MIB} MiB, worker SIGKILLed at "
            f"{resume['killed_at_bytes'] / resume['bytes']:.0%}: resumed from",
            f"{resume['resumed_from'] / resume['bytes']:8.0%}",
        ),
        (
            "    sent again (target <= 45%)",
            f"{resume['sent_again_fraction']:8.0%} ({resume['seconds_after_kill']:.1f} s to done)",
        ),
    ]


def _long_path(path: dict, d: dict[str, float]) -> list[Row]:
    name = path_name(path)
    return [
        (f"shaped path ({_describe(path)}), {path['paimon']['bytes'] // MIB} MiB:", ""),
        ("  Paimon end to end, POST multipart", f"{path['paimon']['mb_per_s']:8.1f} MB/s"),
        ("  Paimon end to end, PUT", f"{path['paimon_put']['mb_per_s']:8.1f} MB/s"),
        (
            "  Paimon / path: multipart, PUT",
            f"{d[f'{name}_paimon_over_path']:8.2f}, {d[f'{name}_paimon_put_over_path']:.2f}",
        ),
        *_transfers(path),
    ]


def _concurrency(r: dict[str, dict]) -> list[Row]:
    return [
        (
            f"{count} concurrent x {r['plan']['concurrent_bytes'] // MIB} MiB",
            f"{figure['mb_per_s']:8.1f} MB/s",
        )
        for count, figure in r["concurrency"].items()
    ]


def _slow_clients(slow: dict) -> list[Row]:
    rows = [
        (
            f"slow clients at 2 KiB/s, default local server "
            f"(idle {slow['idle_server_mib']:.0f} MiB, 32 MiB PUT alone "
            f"{slow['unloaded_fast_mb_per_s']:.0f} MB/s):",
            "",
        )
    ]
    for crowd in slow["crowds"]:
        rows += [
            (
                f"  {crowd['slow_uploads']} slow: held, refused; all started after",
                f"{crowd['held']:8d}, {crowd['refused']}; {crowd['admitted_seconds']:.1f} s",
            ),
            (
                "    /healthz p50 / p99",
                f"{crowd['healthz_p50_ms']:8.1f} / {crowd['healthz_p99_ms']:.1f} ms "
                f"({crowd['healthz_samples']} probes)",
            ),
            (
                "    32 MiB PUT meanwhile / alone",
                f"{crowd['fast_over_unloaded']:8.2f} ({crowd['fast_mb_per_s']:.0f} MB/s)"
                + _refused_first(crowd["fast_refusals"]),
            ),
            (
                "    server memory, per held upload",
                f"{crowd['server_mib']:8.0f} MiB, {crowd['kib_per_held_upload']:.0f} KiB",
            ),
        ]
    return rows


def _refused_first(statuses: list[int]) -> str:
    """The refusals the fast upload met before it got through, if any."""
    if not statuses:
        return ""
    return f", after {len(statuses)} refused ({', '.join(map(str, statuses))})"
