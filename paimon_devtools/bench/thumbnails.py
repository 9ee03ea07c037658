"""Thumbnails and previews (issue 31): what making them from a 24-megapixel JPEG costs,
and a MEGA upload's end-to-end speed with them on and off, in one run, on loopback
(the CPU is the limit: the worst case for work in the background) and on issue 17's
shaped path (bench/network.py).

The making is timed in a fresh Python process (``sys.executable -c``), so its peak RSS
(``VmHWM``) is the image work's own, beside the same process's RSS before it. The
speed is a series of uploads of that JPEG through two servers on the same emulator, one
with ``PAIMON_MEGA_THUMBNAILS`` on and one off, alternated, best series of each: the
background thread's CPU falls on the uploads that follow, which a series includes; the
next series starts once every image of the last one has its attributes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

from PIL import Image

from paimon_devtools.bench.client import send_concurrently, send_file
from paimon_devtools.bench.network import SHAPE
from paimon_devtools.bench.plan import rate
from paimon_devtools.bench.rig import Rig
from paimon_devtools.megasim import V2_EMAIL, V2_PASSWORD
from paimon_devtools.servers import start_server

SIZE_24MP = (6000, 4000)
#: Runs in a fresh interpreter: reads the JPEG, then times ``make_images`` and, for
#: comparison, a full-size decode without ``draft``; prints JSON.
MEASURE = """
import io, json, sys, time
from PIL import Image
from paimon.storage.mega.attributes import make_images
def kib(name):  # VmHWM is this process's own peak (ru_maxrss keeps the parent's across exec)
    lines = open("/proc/self/status").read().splitlines()
    return int(next(line.split()[1] for line in lines if line.startswith(name + ":")))
data = open(sys.argv[1], "rb").read()
before = kib("VmRSS")
start = time.perf_counter()
images = make_images(io.BytesIO(data))
made = time.perf_counter() - start
peak = kib("VmHWM")
start = time.perf_counter()
full = Image.open(io.BytesIO(data))
full.load()
decoded = time.perf_counter() - start
full_peak = kib("VmHWM")
print(json.dumps({
    "make_s": made, "rss_before_kib": before, "rss_peak_kib": peak,
    "full_decode_s": decoded, "full_decode_peak_kib": full_peak,
    "thumbnail_bytes": len(images[0]), "preview_bytes": len(images[1]),
}))
"""


def photo(path: Path) -> Path:
    """A 24-megapixel JPEG at quality 90 of a noisy gradient (about a camera photo's
    size; flat colour would compress to nothing)."""
    noise = Image.effect_noise(SIZE_24MP, 48)
    gradient = Image.linear_gradient("L").resize(SIZE_24MP)
    Image.merge("RGB", (noise, gradient, Image.blend(noise, gradient, 0.5))).save(
        path, "JPEG", quality=90
    )
    return path


def making(jpeg: Path) -> dict[str, object]:
    repo = Path(__file__).resolve().parents[2]
    output = subprocess.run(
        [sys.executable, "-c", MEASURE, str(jpeg)],
        capture_output=True,
        text=True,
        check=True,
        cwd=repo,
        timeout=300,
    ).stdout
    return json.loads(output)


def _series(server_url: str, jpeg: Path, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        send_file(server_url, jpeg)
    return time.perf_counter() - start


def _attributes_reach(rig: Rig, count: int, timeout: float = 60.0) -> None:
    """Wait until the emulator holds ``count`` file attributes: the images of a series
    are all done before the next series starts (its time is its own)."""
    deadline = time.monotonic() + timeout
    while rig.sim.state()["file_attributes"] < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the thumbnails of the series were not all attached: {count}")
        time.sleep(0.05)


def _on_and_off(rig: Rig, off_url: str, jpeg: Path, count: int, rounds: int) -> dict:
    """Series of ``count`` uploads, alternately with thumbnails on and off; the best
    series of each."""
    seconds: dict[str, list[float]] = {"on": [], "off": []}
    attributes = rig.sim.state()["file_attributes"]
    for _ in range(rounds):
        for name, url in (("on", rig.server.url), ("off", off_url)):
            seconds[name].append(_series(url, jpeg, count))
            if name == "on":
                attributes += 2 * count  # a thumbnail and a preview each
                _attributes_reach(rig, attributes)
            rig.forget_files()
    size = count * jpeg.stat().st_size
    figures: dict[str, object] = {
        name: {
            "uploads": count,
            "runs_s": runs,
            "mb_per_s": rate(size, min(runs)),
            "median_mb_per_s": rate(size, median(runs)),
        }
        for name, runs in seconds.items()
    }
    figures["on_over_off"] = min(seconds["off"]) / min(seconds["on"])
    figures["median_on_over_off"] = median(seconds["off"]) / median(seconds["on"])
    return figures


def thumbnails(rig: Rig) -> dict[str, object]:
    jpeg = photo(rig.files / "photo-24mp.jpg")
    figures: dict[str, object] = {"jpeg_bytes": jpeg.stat().st_size, "making": making(jpeg)}
    off_dir = rig.files.parent / "thumbnails-off"
    off_dir.mkdir()
    off = start_server(
        off_dir,
        storage="mega",
        mega_api_url=rig.sim.url,
        mega_email=V2_EMAIL,
        mega_password=V2_PASSWORD,
        workers=str(os.cpu_count() or 1),  # as the rig's server
        mega_thumbnails="false",
    )
    quick = rig.plan.name == "quick"
    try:
        send_concurrently(off.url, jpeg, os.cpu_count() or 1)  # its workers log in
        rig.forget_files()
        figures["loopback"] = _on_and_off(rig, off.url, jpeg, 2 if quick else 6, 2 if quick else 5)
        rig.sim.network(**SHAPE)
        try:
            figures["shaped"] = _on_and_off(rig, off.url, jpeg, 1 if quick else 3, 2)
        finally:
            rig.sim.network()
    finally:
        off.stop()
    return figures


def thumbnail_rows(figures: dict) -> list[tuple[str, str]]:
    made = figures["making"]
    rows = [
        (
            "thumbnail + preview of a 24 MP JPEG",
            f"{made['make_s'] * 1000:.0f} ms, peak RSS {made['rss_peak_kib'] / 1024:.0f} MiB "
            f"(process before: {made['rss_before_kib'] / 1024:.0f} MiB)",
        ),
        (
            "  full-size decode alone, for comparison",
            f"{made['full_decode_s'] * 1000:.0f} ms, peak RSS "
            f"{made['full_decode_peak_kib'] / 1024:.0f} MiB",
        ),
    ]
    for where, label in (("loopback", "loopback"), ("shaped", "issue 17's shaped path")):
        compared = figures[where]
        rows += [
            (
                f"uploads of it ({figures['jpeg_bytes'] / 1e6:.1f} MB), {label}, thumbnails on",
                f"{compared['on']['mb_per_s']:.1f} MB/s",
            ),
            ("  thumbnails off", f"{compared['off']['mb_per_s']:.1f} MB/s"),
            (
                "  on / off, best series (median)",
                f"{compared['on_over_off']:.2f} ({compared['median_on_over_off']:.2f})",
            ),
        ]
    return rows
