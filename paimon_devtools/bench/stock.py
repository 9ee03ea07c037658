"""The baseline: stock mega.py's ``Mega.upload()`` to the same emulator."""

from __future__ import annotations

from paimon_devtools.bench.plan import throughput, timed
from paimon_devtools.bench.rig import Rig
from paimon_devtools.megasim import V2_EMAIL, V2_PASSWORD, stock_mega_client


def stock(rig: Rig) -> dict[str, float]:
    client = stock_mega_client(rig.sim.url).login(V2_EMAIL, V2_PASSWORD)
    seconds = timed(lambda: client.upload(str(rig.main_file)))
    rig.forget_files()
    return throughput(rig.plan.main_bytes, seconds)
