"""The command line of ``scripts/bench``: the order of one run, its table and its JSON."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
from pathlib import Path

import paimon_devtools.bench
from paimon_devtools.bench.crypto import crypto_limit
from paimon_devtools.bench.healthz import healthz
from paimon_devtools.bench.listing import SAMPLES, listing, listing_table
from paimon_devtools.bench.network import long_paths, resume_after_kill, shaped_path
from paimon_devtools.bench.plan import FULL, QUICK, Plan
from paimon_devtools.bench.recovery import crash_recovery, recovery_table
from paimon_devtools.bench.report import derived, machine, table
from paimon_devtools.bench.rig import running
from paimon_devtools.bench.rss import peak_rss, workers_of
from paimon_devtools.bench.s3spool import s3_spool_bench, s3_spool_table
from paimon_devtools.bench.slowclients import slow_clients
from paimon_devtools.bench.stock import stock
from paimon_devtools.bench.throughput import concurrency, end_to_end, uploader_alone
from paimon_devtools.bench.thumbnails import thumbnails
from paimon_devtools.bench.webhooks import webhook_bench, webhook_table

#: ``--only``: the shaped paths alone, or issue 31's thumbnails alone (the emulator and
#: server started and checked as for a full run), without the loopback figures' minutes.
ONLY = {
    "long-paths": lambda rig: {"long_paths": long_paths(rig)},
    "shaped-paths": lambda rig: {"shaped": shaped_path(rig), "long_paths": long_paths(rig)},
    "thumbnails": lambda rig: {"thumbnails": thumbnails(rig)},
}


def run(plan: Plan, only: str | None = None) -> dict[str, object]:
    with (
        tempfile.TemporaryDirectory(prefix="paimon-bench-") as scratch,
        running(plan, Path(scratch)) as rig,
    ):
        rig.warm_up_and_verify()
        results: dict[str, dict] = {
            "machine": machine(),
            "plan": vars(plan) | {"workers": len(workers_of(rig.server.process.pid))},
        }
        if only:
            results |= ONLY[only](rig)
            results["derived"] = derived(results)
            return results
        results |= {
            "crypto_limit": crypto_limit(plan),
            "stock": stock(rig),
            "paimon": end_to_end(rig),
            "paimon_put": end_to_end(rig, "put"),
            "uploader_alone": uploader_alone(rig),
            "concurrency": concurrency(rig),
            "healthz": healthz(rig),
            "peak_rss": peak_rss(rig),
            "shaped": shaped_path(rig),
            "long_paths": long_paths(rig),
            "resume": resume_after_kill(rig),
        }
        results["slow_clients"] = slow_clients(Path(scratch), plan.slow_clients)
    results["derived"] = derived(results)
    return results


def main() -> int:
    description = (paimon_devtools.bench.__doc__ or "").split("\n\n")[0]
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small files: proves it works")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument(
        "--listing",
        action="store_true",
        help="only the owner's listing: pages of 50 from each job store (listing.py)",
    )
    parser.add_argument(
        "--jobs", type=int, default=100_000, help="jobs in each store for --listing"
    )
    parser.add_argument(
        "--samples", type=int, default=SAMPLES, help="pages read per query for --listing"
    )
    parser.add_argument(
        "--only",
        choices=sorted(ONLY),
        help="only issue 29's two long paths, or those and issue 17's shaped path, or "
        "issue 31's thumbnails (making them from a 24 MP JPEG; uploads with them on and off)",
    )
    parser.add_argument(
        "--recovery",
        type=int,
        metavar="RUNS",
        help="instead: crash the whole server RUNS times per restart kind, time its recovery",
    )
    parser.add_argument(
        "--webhooks",
        type=int,
        metavar="EVENTS",
        help="instead: webhook delay and rate over EVENTS events, and a 10,000-delivery "
        "backlog to a dead endpoint",
    )
    parser.add_argument(
        "--s3-spool",
        type=int,
        metavar="MIB",
        help="instead: upload speed with the spool in object storage (SeaweedFS) against "
        "the local spool, for PUT, multipart and tus, MIB-sized files; memory per upload",
    )
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the emulator and gunicorn are stopped either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if args.listing:
            results = listing(args.jobs, args.samples)
        elif args.recovery:
            with tempfile.TemporaryDirectory(prefix="paimon-bench-") as scratch:
                results = crash_recovery(Path(scratch), args.recovery)
        elif args.webhooks:
            with tempfile.TemporaryDirectory(prefix="paimon-bench-") as scratch:
                results = webhook_bench(Path(scratch), args.webhooks)
        elif args.s3_spool:
            with tempfile.TemporaryDirectory(prefix="paimon-bench-") as scratch:
                results = s3_spool_bench(Path(scratch), args.s3_spool)
        else:
            results = run(QUICK if args.quick else FULL, args.only)
    except KeyboardInterrupt:
        return 130
    if args.listing:
        print(listing_table(results))
    elif args.recovery:
        print(recovery_table(results))
    elif args.webhooks:
        print(webhook_table(results))
    elif args.s3_spool:
        print(s3_spool_table(results))
    else:
        print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0
