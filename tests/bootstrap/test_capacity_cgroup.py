"""The server in a real cgroup v1 sized like Render's Starter: 0.5 CPU and 512 MiB.

It must choose the documented worker count (one, docs/deployment.md "Workers"), take a
1 GiB upload into the MEGA emulator, never be OOM-killed, and keep its processes' peak
RSS under 400 MiB. CI runs as root with the cpu and memory controllers mounted as
cgroup v1, so the test creates the cgroup itself; without that it fails, saying why.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from paimon.capacity import MiB
from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from tests.support.rawhttp import connect, read_reply, request_bytes
from tests.support.servers import (
    REPO_ROOT,
    ServerProcess,
    clean_environ,
    eventually,
    free_port,
    gunicorn_command,
)

CGROUP_V1 = Path("/sys/fs/cgroup")
QUOTA_US, PERIOD_US = 50_000, 100_000  # 0.5 CPU
MEMORY_LIMIT = 512 * MiB
RSS_CEILING = 400 * MiB
UPLOAD_BYTES = 1024 * MiB
CHUNK = MiB


@dataclass
class Cgroup:
    """One cgroup v1 in the cpu and the memory hierarchies."""

    cpu: Path
    memory: Path
    rss_peak: int = 0

    def read(self, name: str) -> str:
        return (self.memory / name).read_text()

    def value(self, name: str) -> int:
        return int(self.read(name))

    def stat(self, key: str) -> int:
        lines = dict(line.split() for line in self.read("memory.stat").splitlines())
        return int(lines[key])

    def oom_kills(self) -> int:
        lines = dict(line.split() for line in self.read("memory.oom_control").splitlines())
        return int(lines["oom_kill"])

    def pids(self) -> list[int]:
        return [int(pid) for pid in self.read("cgroup.procs").split()]

    def peak_rss_of_processes(self) -> int:
        """The sum of every process's own peak RSS (VmHWM): at least the cgroup's peak
        total RSS, which the kernel does not keep (memory.max_usage_in_bytes counts
        the page cache the spool writes too)."""
        total = 0
        for pid in self.pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) * 1024
        return total

    @contextmanager
    def sampling_rss(self) -> Iterator[None]:
        """While the block runs, keep the cgroup's largest resident memory of its
        processes (anonymous + file-mapped; memory.stat, every 0.1 s) in rss_peak."""
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.1):
                rss = self.stat("rss") + self.stat("mapped_file")
                self.rss_peak = max(self.rss_peak, rss)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            yield
        finally:
            done.set()
            sampler.join()


def own_cgroup(controller: str) -> Path:
    """Where this process sits in a v1 hierarchy: the new cgroup nests under it."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return CGROUP_V1 / controller / path.lstrip("/")
    pytest.fail(f"this process is in no cgroup v1 `{controller}` hierarchy", pytrace=False)


@pytest.fixture
def starter_cgroup() -> Iterator[Cgroup]:
    """A cgroup with a 0.5-CPU quota and a 512 MiB memory limit; removed at teardown."""
    if os.geteuid() != 0:
        pytest.fail(
            "this test creates a cgroup and must run as root (CI does); "
            f"running as uid {os.geteuid()}",
            pytrace=False,
        )
    for controller in ("cpu", "memory"):
        if not (CGROUP_V1 / controller / "cgroup.procs").is_file():
            pytest.fail(
                f"cgroup v1 `{controller}` is not mounted at {CGROUP_V1 / controller}; "
                "this test needs the cpu and memory controllers as cgroup v1",
                pytrace=False,
            )
    name = f"paimon-test-{secrets.token_hex(4)}"
    group = Cgroup(own_cgroup("cpu") / name, own_cgroup("memory") / name)
    group.cpu.mkdir()
    group.memory.mkdir()
    try:
        (group.cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (group.cpu / "cpu.cfs_quota_us").write_text(str(QUOTA_US))
        (group.memory / "memory.limit_in_bytes").write_text(str(MEMORY_LIMIT))
        yield group
    finally:
        for directory in (group.cpu, group.memory):
            # Anything still inside goes back to the parent, or rmdir refuses.
            for pid in (directory / "cgroup.procs").read_text().split():
                (directory.parent / "cgroup.procs").write_text(pid)
            directory.rmdir()


@pytest.fixture
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MegaSim]:
    """A dedicated emulator, outside the cgroup, not keeping the 1 GiB of ciphertext."""
    with MegaSim.start(tmp_path_factory.mktemp("cgroup-megasim")) as sim:
        requests.post(f"{sim.url}/_sim/ciphertext", json={"keep": False}, timeout=10)
        yield sim


def in_cgroup(group: Cgroup, command: list[str]) -> list[str]:
    """``command`` run by a shell that first moves itself into the cgroup, then becomes
    ``command`` (same pid): its children are born inside."""
    enter = (
        f'echo $$ > {group.cpu}/cgroup.procs && echo $$ > {group.memory}/cgroup.procs && exec "$@"'
    )
    return ["sh", "-c", enter, "sh", *command]


def server_env(workdir: Path, sim: MegaSim, port: int) -> dict[str, str]:
    """start_server's environment, but without PAIMON_WORKERS: the default is tested."""
    return clean_environ() | {
        "PAIMON_HOST": "127.0.0.1",
        "PAIMON_PORT": str(port),
        "PAIMON_DATA_DIR": str(workdir / "data"),
        "PAIMON_MIN_FREE_BYTES": "0",
        "PAIMON_MEGA_API_URL": sim.url,
        "PAIMON_MEGA_EMAIL": V2_EMAIL,
        "PAIMON_MEGA_PASSWORD": V2_PASSWORD,
        "PYTHONPATH": str(REPO_ROOT),
    }


def start_in_cgroup(group: Cgroup, workdir: Path, sim: MegaSim) -> ServerProcess:
    """gunicorn.conf.py as deployed, inside the cgroup."""
    port = free_port()
    env = server_env(workdir, sim, port)
    log_path = workdir / f"gunicorn-{port}.log"
    from tests.support.known_secrets import SERVER_LOGS

    SERVER_LOGS.append(log_path)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            in_cgroup(group, gunicorn_command()),
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", process, log_path, workdir / "data", env)

    def healthy() -> bool:
        assert process.poll() is None, f"gunicorn exited:\n{server.logs()}"
        try:
            return requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
        except (requests.ConnectionError, requests.Timeout):
            # Not listening yet, or the one worker still importing on half a CPU (CI
            # saw a 2 s read time out here): ask again until the deadline.
            return False

    if not eventually(healthy, timeout=60, interval=0.2):
        server.stop()
        pytest.fail(f"gunicorn did not become healthy in the cgroup:\n{server.logs()}")
    return server


def put_generated(url: str, name: str, size: int) -> tuple[dict, str]:
    """PUT ``size`` bytes made on the fly (never in memory at once); the JSON reply and
    the body's SHA-256."""
    block = os.urandom(CHUNK)
    digest = hashlib.sha256()
    head = request_bytes(
        "PUT",
        f"/upload/{name}",
        headers={"Content-Length": str(size), "Accept": "application/json"},
    )
    with connect(url, timeout=300) as sock:
        sock.sendall(head)
        for index in range(size // CHUNK):
            chunk = index.to_bytes(8, "big") + block[8:]  # every MiB different
            digest.update(chunk)
            sock.sendall(chunk)
        reply = read_reply(sock)
    assert reply.status == 200, reply.body
    return reply.json(), digest.hexdigest()


def test_starter_sized_cgroup_one_worker_1_gib_upload_no_oom(
    starter_cgroup: Cgroup, sim: MegaSim, tmp_path: Path
) -> None:
    group = starter_cgroup
    # Doctor, in the cgroup, finds its limits and names the count the server will start.
    doctor = subprocess.run(
        in_cgroup(group, [sys.executable, "-m", "paimon", "doctor", "--json"]),
        cwd=tmp_path,
        env=server_env(tmp_path, sim, free_port()),
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(doctor.stdout)["workers"]
    assert report["found"]["cpu_quota"] == QUOTA_US / PERIOD_US
    assert report["found"]["memory_limit"] == MEMORY_LIMIT
    assert report["found"]["cgroup"] == "v1"
    assert (report["workers"], report["decided_by"]) == (1, "CPU quota")

    server = start_in_cgroup(group, tmp_path, sim)
    try:
        master = server.process.pid
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        # The documented count for 0.5 CPU and 512 MiB: one worker, by the CPU quota.
        assert len(children) == 1, server.logs()
        assert "1 workers, decided by CPU quota" in server.logs()
        assert sorted(group.pids()) == sorted([master, *map(int, children)])
        started = time.monotonic()
        with group.sampling_rss():
            reply, sha256 = put_generated(server.url, "big.bin", UPLOAD_BYTES)
        seconds = time.monotonic() - started

        assert reply["status"] == "success"
        job = requests.get(f"{server.url}/status/{reply['id']}", timeout=10).json()
        assert (job["state"], job["size"], job["sha256"]) == ("done", UPLOAD_BYTES, sha256)
        assert sim.state()["bytes_stored"] == UPLOAD_BYTES
        # Never OOM-killed: no kill in the cgroup, the same processes, still serving.
        assert group.oom_kills() == 0
        assert sorted(group.pids()) == sorted([master, *map(int, children)])
        assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
        peak_of_processes = group.peak_rss_of_processes()
        print(
            f"\n1 GiB in {seconds:.1f} s; peak RSS: processes {peak_of_processes / MiB:.0f} MiB, "
            f"cgroup {group.rss_peak / MiB:.0f} MiB; cgroup max usage with page cache "
            f"{group.value('memory.max_usage_in_bytes') / MiB:.0f} MiB; "
            f"failcnt {group.value('memory.failcnt')}"
        )
        throttled = dict(line.split() for line in (group.cpu / "cpu.stat").read_text().splitlines())
        print(f"CPU quota throttled the cgroup {throttled['nr_throttled']} times")
        assert int(throttled["nr_throttled"]) > 0  # the quota was really in force
        assert group.rss_peak < RSS_CEILING
        assert peak_of_processes < RSS_CEILING
    finally:
        server.stop()
