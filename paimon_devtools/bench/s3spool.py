"""``scripts/bench --s3-spool MIB``: the spool in object storage (PAIMON_SPOOL_URL) against
the local spool, in one run, on one SeaweedFS (``weed server -s3``) on 127.0.0.1.

Two deployed-style gunicorns (2 workers each) store in the same bucket
(PAIMON_STORAGE=s3), so only the spool differs: one spools to its disk, the other to the
bucket. For each door (PUT, multipart POST, tus: one creation and PATCHes of 64 MiB),
a MIB-sized file is sent REPEATS times to each, the client waiting for the link (PUT and
POST) or for the job to be done (tus); the median rate of each, and their ratio.
Memory: the workers' peak RSS growth while UPLOADS_AT_ONCE PUTs arrive at once at the
object-spool server, per upload.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from pathlib import Path

import requests

from paimon_devtools.bench.client import send_file
from paimon_devtools.bench.plan import MIB, make_file
from paimon_devtools.bench.rss import memory_kib, reset_peak, workers_of
from paimon_devtools.s3 import WeedServer
from paimon_devtools.servers import ServerProcess, start_server

REPEATS = 3
UPLOADS_AT_ONCE = 4
TUS_PATCH_BYTES = 64 * MIB
DOORS = ("put", "multipart", "tus")


def send_tus(server: ServerProcess, path: Path) -> float:
    """One tus upload of ``path`` (creation, then PATCHes), until its job is done."""
    size = path.stat().st_size
    start = time.perf_counter()
    created = requests.post(
        f"{server.url}/tus/",
        headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(size)},
        timeout=60,
    )
    created.raise_for_status()
    url = server.url + "/" + created.headers["Location"].split("/", 3)[3]
    with path.open("rb") as body:
        offset = 0
        while offset < size:
            chunk = body.read(TUS_PATCH_BYTES)
            reply = requests.patch(
                url,
                data=chunk,
                headers={
                    "Tus-Resumable": "1.0.0",
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                },
                timeout=600,
            )
            reply.raise_for_status()
            offset += len(chunk)
    job_id = url.rstrip("/").rsplit("/", 1)[1]
    while (state := requests.get(f"{server.url}/status/{job_id}", timeout=30).json())[
        "state"
    ] not in ("done", "failed"):
        time.sleep(0.05)
    if state["state"] != "done":
        raise RuntimeError(f"tus upload failed: {state}")
    return time.perf_counter() - start


def seconds_for(server: ServerProcess, path: Path, door: str) -> float:
    if door == "tus":
        return send_tus(server, path)
    return send_file(server.url, path, door).seconds


def rates(server: ServerProcess, path: Path) -> dict[str, float]:
    """Median MB/s of each door, REPEATS uploads each."""
    size = path.stat().st_size
    return {
        door: size
        / 1e6
        / statistics.median(seconds_for(server, path, door) for _ in range(REPEATS))
        for door in DOORS
    }


def memory_per_upload(server: ServerProcess, path: Path) -> dict[str, float]:
    """The workers' peak RSS growth while UPLOADS_AT_ONCE PUTs arrive at once, per upload."""
    workers = workers_of(server.process.pid)
    idle = {pid: memory_kib(pid)["VmRSS"] for pid in workers}
    reset = all([reset_peak(pid) for pid in workers])
    threads = [
        threading.Thread(target=send_file, args=(server.url, path, "put"))
        for _ in range(UPLOADS_AT_ONCE)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    growth = sum(max(0, memory_kib(pid)["VmHWM"] - idle[pid]) for pid in workers) / 1024
    return {
        "uploads_at_once": UPLOADS_AT_ONCE,
        "peak_was_reset": reset,
        "growth_mib": growth,
        "per_upload_mib": growth / UPLOADS_AT_ONCE,
    }


def s3_spool_bench(scratch: Path, size_mib: int) -> dict[str, object]:
    (scratch / "weed").mkdir()
    with WeedServer.start(scratch / "weed") as weed:
        bucket = weed.new_bucket()
        saved = {name: os.environ.get(name) for name in weed.env()}
        os.environ.update(weed.env())  # the servers inherit the standard AWS variables
        try:
            path = make_file(scratch / "upload.bin", size_mib * MIB)
            common = {"storage": "s3", "s3_storage_url": f"s3://{bucket}/files"}
            for name in ("local", "object"):
                (scratch / name).mkdir()
            with start_server(scratch / "local", **common) as local:
                local_rates = rates(local, path)
            with start_server(
                scratch / "object", spool_url=f"s3://{bucket}/spool", **common
            ) as objects:
                object_rates = rates(objects, path)
                memory = memory_per_upload(objects, path)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    return {
        "size_mib": size_mib,
        "repeats": REPEATS,
        "local_spool_mb_s": local_rates,
        "object_spool_mb_s": object_rates,
        "ratio": {door: object_rates[door] / local_rates[door] for door in DOORS},
        "memory": memory,
    }


def s3_spool_table(results: dict) -> str:
    lines = [
        f"spool in object storage vs on disk: {results['size_mib']} MiB files, median of "
        f"{results['repeats']}, PAIMON_STORAGE=s3 for both (SeaweedFS on 127.0.0.1)",
        f"{'door':<10} {'local MB/s':>11} {'object MB/s':>12} {'ratio':>6}",
    ]
    for door in DOORS:
        lines.append(
            f"{door:<10} {results['local_spool_mb_s'][door]:>11.1f} "
            f"{results['object_spool_mb_s'][door]:>12.1f} {results['ratio'][door]:>6.2f}"
        )
    memory = results["memory"]
    lines.append(
        f"worker RSS growth with {memory['uploads_at_once']} PUTs at once: "
        f"{memory['growth_mib']:.1f} MiB, {memory['per_upload_mib']:.1f} MiB per upload "
        f"(peak reset: {memory['peak_was_reset']})"
    )
    return "\n".join(lines)
