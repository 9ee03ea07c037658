"""Paimon's upload rates: end to end through either door, several uploads at once, and
its uploader alone (the transfer phase without HTTP)."""

from __future__ import annotations

from pathlib import Path

from paimon.storage.mega.uploader import Uploader
from paimon_devtools.bench.client import send_concurrently, send_file
from paimon_devtools.bench.plan import make_file, throughput, timed
from paimon_devtools.bench.rig import Rig


def end_to_end(
    rig: Rig, door: str = "multipart", path: Path | None = None, runs: int | None = None
) -> dict[str, object]:
    """The best of ``runs`` (the plan's) uploads of ``path`` (the main file), from the
    first byte sent to the link."""
    sent = []
    for _ in range(rig.plan.main_runs if runs is None else runs):
        sent.append(send_file(rig.server.url, path or rig.main_file, door))
        rig.forget_files()
    best = min(sent, key=lambda one: one.seconds)
    return throughput(best.size, best.seconds) | {
        "last_byte_to_link_s": best.after_last_byte,
        "runs_s": [one.seconds for one in sent],
    }


def uploader_alone(rig: Rig) -> dict[str, float]:
    """Paimon's uploader in this process, from a finished file: the transfer phase."""
    rig.client.ensure_login()
    uploader = Uploader(rig.client)
    seconds = timed(lambda: uploader.upload(rig.main_file))
    rig.forget_files()
    return throughput(rig.plan.main_bytes, seconds)


def concurrency(rig: Rig) -> dict[str, dict[str, float]]:
    """Total bytes over the wall time, for each count of simultaneous uploads."""
    path = make_file(rig.files / "concurrent.bin", rig.plan.concurrent_bytes)
    figures = {}
    for count in rig.plan.concurrency:
        wall, _ = send_concurrently(rig.server.url, path, count)
        rig.forget_files()
        figures[str(count)] = throughput(count * rig.plan.concurrent_bytes, wall)
    return figures
