"""The shaped path: one file over the emulator shaped like a long path to MEGA (50 ms
before each answer, 3 MB/s per connection, 24 MB/s in all), for Paimon end to end
through both doors and for stock mega.py, in the same run as the loopback figures."""

from __future__ import annotations

from paimon_devtools.bench.plan import MB, make_file
from paimon_devtools.bench.rig import Rig
from paimon_devtools.bench.stock import stock
from paimon_devtools.bench.throughput import end_to_end

SHAPE = {"latency_ms": 50, "connection_bytes_per_second": 3 * 10**6, "bytes_per_second": 24 * 10**6}


def shaped_path(rig: Rig) -> dict[str, object]:
    """One upload each (the path, not the CPU, sets the pace); the emulator unshaped after."""
    path = make_file(rig.files / "shaped.bin", rig.plan.shaped_bytes)
    rig.sim.network(**SHAPE)
    try:
        figures = {
            "paimon": end_to_end(rig, "multipart", path, runs=1),
            "paimon_put": end_to_end(rig, "put", path, runs=1),
            "stock": stock(rig, path),
        }
    finally:
        rig.sim.network()
        path.unlink()
    return {"shape": SHAPE, "path_mb_per_s": SHAPE["bytes_per_second"] / MB, **figures}
