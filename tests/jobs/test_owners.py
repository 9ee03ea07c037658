"""Lease owners name their host, boot and process; leases of dead processes of this host
are given back at once (paimon/jobs/owners.py), with a real store and real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from paimon.jobs.model import JobState
from paimon.jobs.owners import boot_id, held_by_dead_process_here, lease_owner, release_dead_leases
from paimon.jobs.store import JobStore
from tests.support.jobstores import make_job


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_an_owner_names_host_boot_and_process() -> None:
    host, boot, pid, rest = lease_owner("tus-").split(":")
    assert (host, boot, int(pid)) == (socket.gethostname(), boot_id(), os.getpid())
    assert rest.startswith("tus-")
    assert boot and ":" not in boot


def test_who_counts_as_dead_here() -> None:
    here, boot = socket.gethostname(), boot_id()
    assert not held_by_dead_process_here(lease_owner())  # this process: alive
    assert held_by_dead_process_here(f"{here}:{boot}:{dead_pid()}:ab")
    assert held_by_dead_process_here(f"{here}:an-earlier-boot:{os.getpid()}:ab")
    assert not held_by_dead_process_here(f"other-host:{boot}:{dead_pid()}:ab")
    assert not held_by_dead_process_here("tus:0123abcd")  # an older version's name


def test_release_dead_leases_frees_only_those(store: JobStore) -> None:
    jobs = [make_job(state=JobState.TRANSFERRING) for _ in range(3)]
    dead = f"{socket.gethostname()}:{boot_id()}:{dead_pid()}:ab"
    owners = [dead, lease_owner(), f"elsewhere:{boot_id()}:1:ab"]
    for job, owner in zip(jobs, owners, strict=True):
        store.create(job)
        assert store.acquire_lease(job.id, owner, 60)
    assert release_dead_leases(store) == [jobs[0].id]
    assert store.leases() == {jobs[1].id: owners[1], jobs[2].id: owners[2]}
    assert store.resumable(time.time()) == [jobs[0].id]
