"""Lease owners and their liveness (paimon/jobs/owners.py), with real processes and a
real store: a process is dead once nobody holds its lock file, whether it is gone, a
zombie nobody reaped, or its pid belongs to another process now; what cannot be known
here (another boot, no lock file, an older name) is left to lease expiry."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from paimon.jobs.model import JobState
from paimon.jobs.owners import LeaseOwners, boot_id, owner_parts
from paimon.jobs.store import JobStore
from tests.support.jobstores import make_job
from tests.support.servers import REPO_ROOT, clean_environ, eventually

# Names owners in a directory, prints the name, and lives until its stdin closes.
NAMING = """
import sys
from pathlib import Path
from paimon.jobs.owners import LeaseOwners
print(LeaseOwners(Path(sys.argv[1])).name("tus-"), flush=True)
sys.stdin.read()
"""


class Holder:
    """Another process holding owner names of ``directory``."""

    def __init__(self, directory: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-c", NAMING, str(directory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=clean_environ() | {"PYTHONPATH": str(REPO_ROOT)},
        )
        assert self.process.stdout is not None
        self.owner = self.process.stdout.readline().strip()
        assert self.owner, "the naming process printed no owner name"

    def state(self) -> str:
        """Its state letter in /proc/<pid>/stat (R, S, Z, ...)."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0]

    def kill_unreaped(self) -> None:
        """SIGKILL, and no wait(): it stays a zombie until reaped."""
        self.process.send_signal(signal.SIGKILL)
        assert eventually(lambda: self.state() == "Z", timeout=10)

    def reap(self) -> None:
        self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            stream.close()


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "owners"


@pytest.fixture
def holder(directory: Path) -> Iterator[Holder]:
    holder = Holder(directory)
    yield holder
    holder.reap()


def test_an_owner_names_host_boot_process_and_its_lock(directory: Path) -> None:
    owners = LeaseOwners(directory)
    name = owners.name("tus-")
    parts = owner_parts(name)
    assert parts is not None
    assert (parts.host, parts.boot, parts.pid) == (socket.gethostname(), boot_id(), os.getpid())
    assert parts.process == owners.process
    assert name.rsplit(":", 1)[1].startswith("tus-")
    assert owners.name() != name  # each lease its own name, one lock per process
    assert [path.name for path in directory.iterdir()] == [f"{owners.process}.lock"]
    # Another judge in this very process sees the lock held: alive.
    assert not LeaseOwners(directory).dead(name)
    assert not owners.dead(name)


def test_a_zombie_is_dead_and_stays_dead_once_reaped(directory: Path, holder: Holder) -> None:
    judge = LeaseOwners(directory)
    assert not judge.dead(holder.owner)  # alive
    holder.kill_unreaped()
    assert judge.dead(holder.owner)  # a zombie: its files, and so its lock, are closed
    holder.reap()
    assert judge.dead(holder.owner)


def test_a_pid_that_now_belongs_to_a_live_process_says_nothing(
    directory: Path, holder: Holder
) -> None:
    """As in a new PID namespace, where the next workers get the old ones' pids."""
    holder.kill_unreaped()
    host, boot, _, rest = holder.owner.split(":", 3)
    same_pid_alive = f"{host}:{boot}:{os.getpid()}:{rest}"
    assert LeaseOwners(directory).dead(same_pid_alive)


def test_what_cannot_be_known_here_is_left_to_expiry(directory: Path, holder: Holder) -> None:
    holder.kill_unreaped()
    host, boot, pid, process, lease = holder.owner.split(":")
    judge = LeaseOwners(directory)
    assert judge.dead(holder.owner)
    # Another boot: another host with the same name, or this one before a reboot.
    assert not judge.dead(f"{host}:an-earlier-boot:{pid}:{process}:{lease}")
    # No lock file in this data directory (another host's volume, another install).
    assert not LeaseOwners(directory.parent / "elsewhere").dead(holder.owner)
    assert not judge.dead(f"{host}:{boot}:{pid}:{'0' * 16}:{lease}")
    assert not judge.dead(f"{host}:{boot}:{pid}:tus-0123abcd")  # an older version's name


def test_an_owner_whose_lock_could_not_be_made_is_never_judged_dead(tmp_path: Path) -> None:
    (tmp_path / "owners").write_text("a file where the directory should be")
    owners = LeaseOwners(tmp_path / "owners")
    name = owners.name()  # leases still work: they are left to expiry
    assert owner_parts(name) is not None
    assert not LeaseOwners(tmp_path / "owners").dead(name)


def test_release_frees_dead_owners_leases_and_removes_their_locks(
    store: JobStore, directory: Path, holder: Holder
) -> None:
    alive = Holder(directory)
    try:
        judge = LeaseOwners(directory)
        mine = judge.name()
        jobs = [make_job(state=JobState.TRANSFERRING) for _ in range(5)]
        dead_too = holder.owner.rsplit(":", 1)[0] + ":another-lease"  # same dead process
        owners = [holder.owner, dead_too, alive.owner, mine, f"elsewhere:{boot_id()}:1:ab"]
        for job, owner in zip(jobs, owners, strict=True):
            store.create(job)
            assert store.acquire_lease(job.id, owner, 60)
        holder.kill_unreaped()
        dead_lock = directory / f"{owner_parts(holder.owner).process}.lock"
        assert dead_lock.exists()

        dead = sorted([jobs[0].id, jobs[1].id])
        assert sorted(judge.release_dead_leases(store)) == dead
        assert store.leases() == dict(zip([job.id for job in jobs[2:]], owners[2:], strict=True))
        assert sorted(store.resumable(time.time())) == dead
        assert not dead_lock.exists()  # no lease names it: gone with its process
        living = {f"{owner_parts(owner).process}.lock" for owner in (alive.owner, mine)}
        assert {path.name for path in directory.iterdir()} == living
    finally:
        alive.reap()


def test_a_dead_lock_file_no_lease_names_is_removed(store: JobStore, directory: Path) -> None:
    gone = Holder(directory)
    gone.reap()
    LeaseOwners(directory).release_dead_leases(store)
    assert list(directory.iterdir()) == []
