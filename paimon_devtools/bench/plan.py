"""What one run measures (file sizes, repetitions) and the units its figures are in."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MIB = 1 << 20
MB = 1e6


@dataclass(frozen=True)
class Plan:
    """File sizes for one run; ``quick`` proves the benchmark works, ``full`` measures."""

    name: str
    main_bytes: int  # stock vs Paimon end to end, uploader alone
    main_runs: int
    crypto_bytes: int
    rss_bytes: int
    concurrent_bytes: int
    concurrency: tuple[int, ...]
    shaped_bytes: int  # the file sent over issue 17's shaped path (bench/network.py)
    long_path_bytes: int  # the file sent over issue 29's longer paths (bench/network.py)
    resume_bytes: int  # the file whose transfer is SIGKILLed at 60% (bench/network.py)
    slow_clients: tuple[int, ...]  # crowds of 2 KiB/s uploads held at once (bench/slowclients.py)


FULL = Plan(
    "full",
    256 * MIB,
    3,
    256 * MIB,
    1024 * MIB,
    64 * MIB,
    (1, 2, 4, 8),
    48 * MIB,
    256 * MIB,
    200 * MIB,
    (200, 500, 1000),
)
QUICK = Plan(
    "quick",
    4 * MIB,
    1,
    16 * MIB,
    16 * MIB,
    2 * MIB,
    (1, 2, 4, 8),
    4 * MIB,
    8 * MIB,
    48 * MIB,
    (50,),
)


def rate(size: int, seconds: float) -> float:
    """MB/s."""
    return size / seconds / MB


def timed(operation: Callable[[], object]) -> float:
    start = time.perf_counter()
    operation()
    return time.perf_counter() - start


def throughput(size: int, seconds: float) -> dict[str, float]:
    """The figures of one timed transfer of ``size`` bytes."""
    return {"bytes": size, "seconds": seconds, "mb_per_s": rate(size, seconds)}


def make_file(path: Path, size: int) -> Path:
    """``size`` random-looking bytes (a repeated random block: AES does not care)."""
    block = os.urandom(min(size, 16 * MIB)) or b""
    with path.open("wb") as out:
        for offset in range(0, size, len(block) or 1):
            out.write(block[: size - offset])
    return path
