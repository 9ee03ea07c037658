"""Memory: the handling worker's peak RSS during one big upload against its idle RSS,
read from /proc (Linux only)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from paimon_devtools.bench.client import send_file
from paimon_devtools.bench.plan import make_file
from paimon_devtools.bench.rig import Rig


def workers_of(master: int) -> list[int]:
    """gunicorn's worker processes: the children of its master."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == master:
                children.append(int(entry.name))
    return sorted(children)


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def reset_peak(pid: int) -> bool:
    """Start VmHWM afresh (Linux ``clear_refs`` 5); False if not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss(rig: Rig) -> dict[str, object]:
    """Every worker's peak during one big upload against its RSS just before."""
    path = make_file(rig.files / "rss.bin", rig.plan.rss_bytes)
    figures = peak_during(rig, lambda: send_file(rig.server.url, path))
    path.unlink()
    rig.forget_files()
    return {"bytes": rig.plan.rss_bytes, **figures}


def peak_during(rig: Rig, operation: Callable[[], object]) -> dict[str, object]:
    """The worker whose peak RSS rose most during ``operation``: its RSS just before,
    its peak and the growth (MiB); every worker's peak is reset first."""
    workers = workers_of(rig.server.process.pid)
    idle = {pid: memory_kib(pid)["VmRSS"] for pid in workers}
    peak_was_reset = all([reset_peak(pid) for pid in workers])
    operation()
    growth = {pid: memory_kib(pid)["VmHWM"] - idle[pid] for pid in workers}
    handler = max(growth, key=lambda pid: growth[pid])
    return {
        "workers": len(workers),
        "peak_was_reset": peak_was_reset,
        "idle_mib": idle[handler] / 1024,
        "peak_mib": (idle[handler] + growth[handler]) / 1024,
        "growth_mib": growth[handler] / 1024,
    }
