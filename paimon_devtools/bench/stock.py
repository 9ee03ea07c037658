"""The baseline: stock mega.py's ``Mega.upload()`` to the same emulator."""

from __future__ import annotations

from pathlib import Path

from paimon_devtools.bench.plan import throughput, timed
from paimon_devtools.bench.rig import Rig
from paimon_devtools.megasim import V2_EMAIL, V2_PASSWORD, stock_mega_client


def stock(rig: Rig, path: Path | None = None) -> dict[str, float]:
    """One upload of ``path`` (the main file)."""
    path = path or rig.main_file
    client = stock_mega_client(rig.sim.url).login(V2_EMAIL, V2_PASSWORD)
    seconds = timed(lambda: client.upload(str(path)))
    rig.forget_files()
    return throughput(path.stat().st_size, seconds)
