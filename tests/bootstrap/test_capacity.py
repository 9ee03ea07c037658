"""paimon/capacity.py on fake cgroup trees (v1, v2, hybrid, none), and doctor's report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from paimon import capacity
from paimon.capacity import Capacity, MiB, choose_workers, detect
from tests.support.servers import REPO_ROOT, clean_environ

V1_UNLIMITED = "9223372036854771712"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")


def v1_tree(root: Path, cpu_path: str, memory_path: str, files: dict[str, str]) -> Path:
    """A cgroup v1 hierarchy with cpu and memory mounted, and /proc/self/cgroup."""
    write(root, {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"})
    write(root, {"memory/memory.limit_in_bytes": V1_UNLIMITED})
    write(root, files)
    proc = root / "proc-self-cgroup"
    proc.write_text(f"4:memory:{memory_path}\n1:cpu:{cpu_path}\n0::/\n")
    return proc


def test_v1_half_cpu_and_512_mib_is_one_worker(tmp_path: Path) -> None:
    """Render's Starter: 0.5 CPU, 512 MiB, on a 16-core host."""
    proc = v1_tree(
        tmp_path,
        "/app",
        "/app",
        {
            "cpu/app/cpu.cfs_quota_us": "50000",
            "cpu/app/cpu.cfs_period_us": "100000",
            "memory/app/memory.limit_in_bytes": str(512 * MiB),
        },
    )
    found = detect(tmp_path, proc, cores=16, affinity=16)
    assert (found.cpu_quota, found.memory_limit, found.cgroup) == (0.5, 512 * MiB, "v1")
    assert (found.cpu_workers, found.memory_workers, found.workers) == (1, 2, 1)
    assert found.limited_by == "CPU quota"


def test_v1_a_parent_limit_applies_and_memory_can_decide(tmp_path: Path) -> None:
    proc = v1_tree(
        tmp_path,
        "/pod/app",
        "/pod/app",
        {
            "cpu/pod/cpu.cfs_quota_us": "400000",  # 4 CPUs for the pod
            "cpu/pod/cpu.cfs_period_us": "100000",
            "cpu/pod/app/cpu.cfs_quota_us": "-1",
            "memory/pod/memory.limit_in_bytes": str(400 * MiB),
            "memory/pod/app/memory.limit_in_bytes": V1_UNLIMITED,
        },
    )
    found = detect(tmp_path, proc, cores=8, affinity=8)
    assert (found.cpu_quota, found.memory_limit) == (4.0, 400 * MiB)
    # (400 - 64) // 160 = 2 workers fit, though 4 CPUs would run 4.
    assert (found.cpu_workers, found.memory_workers, found.workers) == (4, 2, 2)
    assert found.limited_by == "memory limit"


def test_v1_inside_a_container_reads_the_mount_itself(tmp_path: Path) -> None:
    """A container sees its own cgroup as the mount, under the host's path name."""
    proc = v1_tree(
        tmp_path,
        "/docker/0123abc",
        "/docker/0123abc",
        {
            "cpu/cpu.cfs_quota_us": "150000",
            "memory/memory.limit_in_bytes": str(2048 * MiB),
        },
    )
    found = detect(tmp_path, proc, cores=8, affinity=8)
    assert (found.cpu_quota, found.memory_limit) == (1.5, 2048 * MiB)
    assert found.workers == 2  # 1.5 CPUs: two workers keep them busy


def test_v1_cpu_mounted_as_cpu_cpuacct(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "cpu,cpuacct/cpu.cfs_quota_us": "200000",
            "cpu,cpuacct/cpu.cfs_period_us": "100000",
            "memory/memory.limit_in_bytes": V1_UNLIMITED,
        },
    )
    proc = tmp_path / "proc"
    proc.write_text("3:memory:/\n2:cpu,cpuacct:/\n")
    found = detect(tmp_path, proc, cores=8, affinity=8)
    assert (found.cpu_quota, found.memory_limit, found.workers) == (2.0, None, 2)


def test_v2_cpu_max_and_memory_max(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "cgroup.controllers": "cpu memory",
            "cpu.max": "max 100000",
            "memory.max": "max",
            "user.slice/app.service/cpu.max": "300000 100000",
            "user.slice/app.service/memory.max": str(1024 * MiB),
        },
    )
    proc = tmp_path / "proc"
    proc.write_text("0::/user.slice/app.service\n")
    found = detect(tmp_path, proc, cores=32, affinity=32)
    assert (found.cpu_quota, found.memory_limit, found.cgroup) == (3.0, 1024 * MiB, "v2")
    assert (found.memory_workers, found.workers) == (6, 3)


def test_v2_unified_under_a_hybrid_root(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"unified/cgroup.controllers": "cpu memory", "unified/cpu.max": "25000 100000"},
    )
    proc = tmp_path / "proc"
    proc.write_text("0::/\n")
    found = detect(tmp_path, proc, cores=4, affinity=4)
    assert (found.cpu_quota, found.memory_limit, found.workers) == (0.25, None, 1)


def test_affinity_limits_when_there_is_no_cgroup(tmp_path: Path) -> None:
    proc = tmp_path / "missing"
    found = detect(tmp_path, proc, cores=8, affinity=3)
    assert (found.cgroup, found.cpu_quota, found.memory_limit) == ("none", None, None)
    assert (found.workers, found.limited_by) == (3, "CPU affinity")
    assert detect(tmp_path, proc, cores=8, affinity=8).limited_by == "CPU cores"


@pytest.mark.parametrize(
    ("memory_mib", "workers"), [(128, 1), (224, 1), (384, 2), (512, 2), (1024, 6)]
)
def test_memory_budget_per_worker(memory_mib: int, workers: int) -> None:
    """The documented budget: 64 MiB for the master, 160 MiB per worker, at least one."""
    found = Capacity(64, 64, None, memory_mib * MiB, "v2")
    assert found.workers == workers
    budget = (capacity.MASTER_MEMORY_BYTES, capacity.WORKER_MEMORY_BYTES)
    assert budget == (64 * MiB, 160 * MiB)  # as docs/configuration.md says


def test_a_configured_count_wins() -> None:
    small = Capacity(16, 16, 0.5, 512 * MiB, "v1")
    assert choose_workers(None, small) == (1, "CPU quota")
    assert choose_workers(6, small) == (6, "PAIMON_WORKERS / WEB_CONCURRENCY")


def test_doctor_reports_what_it_found_and_chose(tmp_path: Path) -> None:
    real = detect()
    command = [sys.executable, "-m", "paimon", "doctor"]
    report = json.loads(
        subprocess.run(
            [*command, "--json"],
            cwd=tmp_path,
            env=clean_environ() | {"PYTHONPATH": str(REPO_ROOT)},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    )["workers"]
    assert report["found"] == real.as_dict()
    assert (report["workers"], report["decided_by"]) == (real.workers, real.limited_by)
    text = subprocess.run(
        command,
        cwd=tmp_path,
        env=clean_environ() | {"PYTHONPATH": str(REPO_ROOT), "PAIMON_WORKERS": "5"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert f"info workers   {real.describe()}; starting 5 (PAIMON_WORKERS" in text
