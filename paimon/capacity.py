"""How many gunicorn workers this process can really run: CPU quota, affinity, memory.

A container usually gets a fraction of the host (Render's Starter: 0.5 CPU and 512 MiB
on a many-core machine), and ``os.cpu_count()`` reports the host's cores. Workers
beyond the CPU quota only take turns being throttled, and workers beyond the memory
limit get the container OOM-killed mid-upload. So the default worker count is the
smallest of what the CPU quota, the CPU affinity and the memory limit allow.

Everything reads from a cgroup root and a ``/proc/self/cgroup`` text given as
arguments, so tests point it at fake trees; :func:`detect` reads the real ones.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
MiB = 1024**2
# Measured: a worker peaks at 67-103 MiB during a 1 GiB upload (docs/benchmarks.md;
# +18 MiB over idle per upload in flight, the uploader's POST buffers), so 160 MiB
# leaves room for a few uploads at once per worker. The master's RSS is 48 MiB once
# it has imported the worker class, reserved once.
WORKER_MEMORY_BYTES = 160 * MiB
MASTER_MEMORY_BYTES = 64 * MiB
# cgroup v1 writes "no limit" as LONG_MAX rounded down to a page; anything this large
# is no limit.
UNLIMITED = 1 << 60


@dataclass(frozen=True)
class Capacity:
    """What this process may use, and the worker count that follows from it."""

    cores: int  # the machine's CPUs (os.cpu_count)
    affinity: int | None  # CPUs this process may be scheduled on
    cpu_quota: float | None  # CPUs' worth of time per period the cgroup allows
    memory_limit: int | None  # bytes the cgroup may use
    cgroup: str  # "v1", "v2" or "none": where the limits were read

    @property
    def cpus(self) -> float:
        """The CPUs this process can really keep busy."""
        return min(n for n in (self.cores, self.affinity, self.cpu_quota) if n is not None)

    @property
    def cpu_workers(self) -> int:
        """One worker per usable CPU; a fraction of a CPU still runs one."""
        return max(1, math.ceil(self.cpus))

    @property
    def memory_workers(self) -> int | None:
        """Workers that fit in the memory limit at WORKER_MEMORY_BYTES each, after
        the master's share; at least one, since a server needs a worker."""
        if self.memory_limit is None:
            return None
        return max(1, (self.memory_limit - MASTER_MEMORY_BYTES) // WORKER_MEMORY_BYTES)

    @property
    def workers(self) -> int:
        return min(n for n in (self.cpu_workers, self.memory_workers) if n is not None)

    @property
    def limited_by(self) -> str:
        """What decided the count, for doctor and the docs."""
        if self.memory_workers is not None and self.memory_workers < self.cpu_workers:
            return "memory limit"
        if self.cpu_quota is not None and self.cpus == self.cpu_quota:
            return "CPU quota"
        if self.affinity is not None and self.cpus == self.affinity < self.cores:
            return "CPU affinity"
        return "CPU cores"

    def describe(self) -> str:
        quota = f"{self.cpu_quota:g} CPU" if self.cpu_quota is not None else "no CPU quota"
        memory = (
            f"{self.memory_limit // MiB} MiB memory limit"
            if self.memory_limit is not None
            else "no memory limit"
        )
        return (
            f"{self.cores} cores, affinity {self.affinity}, {quota}, {memory} "
            f"(cgroup {self.cgroup}): {self.workers} workers by {self.limited_by}"
        )

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"workers": self.workers, "limited_by": self.limited_by}


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _memberships(proc_cgroup: str) -> dict[str, str]:
    """/proc/self/cgroup as {controller: path}; the cgroup v2 entry is under ""."""
    found = {}
    for line in proc_cgroup.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(","):
                found[controller] = parts[2]
    return found


def _ancestry(mount: Path, path: str) -> list[Path]:
    """The cgroup's directory and its parents up to the mount, innermost first: a limit
    on any of them applies. Inside a container the mount often is the cgroup itself
    (its path names the host's hierarchy), so the mount is always included."""
    relative = Path(path.lstrip("/"))
    dirs = [mount / relative, *(mount / parent for parent in relative.parents)]
    return [d for d in dirs if d.is_dir()]


def _v1_mount(root: Path, controller: str) -> Path | None:
    for name in (controller, f"{controller},cpuacct", f"cpuacct,{controller}"):
        if (root / name).is_dir():
            return root / name
    return None


def _v2_mount(root: Path) -> Path | None:
    """The unified hierarchy: the root itself (pure v2) or its `unified` (hybrid)."""
    for mount in (root, root / "unified"):
        if (mount / "cgroup.controllers").is_file():
            return mount
    return None


def _v1_quota(dirs: list[Path]) -> float | None:
    quotas = []
    for d in dirs:
        quota, period = _read(d / "cpu.cfs_quota_us"), _read(d / "cpu.cfs_period_us")
        if quota and period and int(quota) > 0 and int(period) > 0:
            quotas.append(int(quota) / int(period))
    return min(quotas, default=None)


def _v2_quota(dirs: list[Path]) -> float | None:
    quotas = []
    for d in dirs:
        fields = (_read(d / "cpu.max") or "max").split()
        if fields[0] != "max" and len(fields) == 2 and int(fields[1]) > 0:
            quotas.append(int(fields[0]) / int(fields[1]))
    return min(quotas, default=None)


def _memory_limit(dirs: list[Path], name: str) -> int | None:
    limits = []
    for d in dirs:
        value = _read(d / name)
        if value and value != "max" and int(value) < UNLIMITED:
            limits.append(int(value))
    return min(limits, default=None)


def read_limits(root: Path, proc_cgroup: str) -> tuple[float | None, int | None, str]:
    """(CPU quota in CPUs, memory limit in bytes, "v1" | "v2" | "none") for the cgroup
    that ``proc_cgroup`` (the text of /proc/self/cgroup) names under ``root``.
    A controller mounted as cgroup v1 is read there; otherwise the unified hierarchy."""
    member = _memberships(proc_cgroup)
    cpu_mount, memory_mount = _v1_mount(root, "cpu"), _v1_mount(root, "memory")
    if "cpu" in member and cpu_mount and "memory" in member and memory_mount:
        quota = _v1_quota(_ancestry(cpu_mount, member["cpu"]))
        memory = _memory_limit(_ancestry(memory_mount, member["memory"]), "memory.limit_in_bytes")
        return quota, memory, "v1"
    unified = _v2_mount(root)
    if "" in member and unified:
        dirs = _ancestry(unified, member[""])
        return _v2_quota(dirs), _memory_limit(dirs, "memory.max"), "v2"
    return None, None, "none"


def detect(
    root: Path = CGROUP_ROOT,
    proc_cgroup: Path = PROC_SELF_CGROUP,
    cores: int | None = None,
    affinity: int | None = None,
) -> Capacity:
    """This process's capacity; the arguments replace what the machine would say."""
    quota, memory, version = read_limits(root, _read(proc_cgroup) or "")
    if affinity is None and hasattr(os, "sched_getaffinity"):
        affinity = len(os.sched_getaffinity(0))
    return Capacity(cores or os.cpu_count() or 1, affinity, quota, memory, version)


def choose_workers(configured: int | None, found: Capacity | None = None) -> tuple[int, str]:
    """The worker count gunicorn.conf.py starts, and what decided it: a configured
    count (PAIMON_WORKERS, WEB_CONCURRENCY) wins over the detected capacity."""
    if configured:
        return configured, "PAIMON_WORKERS / WEB_CONCURRENCY"
    found = found or detect()
    return found.workers, found.limited_by


def upload_slots_per_worker(max_concurrent_uploads: int, workers: int) -> int:
    """Each worker's share of PAIMON_MAX_CONCURRENT_UPLOADS: gunicorn.conf.py gives the
    worker one thread per slot, and the app admits that many bodies at once."""
    return max(1, math.ceil(max_concurrent_uploads / max(1, workers)))
