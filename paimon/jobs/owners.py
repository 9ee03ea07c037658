"""Who holds a lease: the host, its boot and the process, written into the owner string,
so that leases of processes of this host that no longer exist are recognised and given
back at once instead of after their expiry (lease expiry stays the rule across hosts).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from functools import cache
from pathlib import Path

from paimon.jobs.store import JobStore

log = logging.getLogger(__name__)

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")
UNKNOWN_BOOT = "no-boot-id"  # not Linux: a dead pid is still recognised on this boot


@cache
def boot_id() -> str:
    """This boot of the host: a pid of an earlier boot is dead whatever runs under it now."""
    try:
        return BOOT_ID_PATH.read_text().strip().replace(":", "") or UNKNOWN_BOOT
    except OSError:
        return UNKNOWN_BOOT


def lease_owner(kind: str = "") -> str:
    """A new owner name for this process: ``host:boot:pid:<kind><random>``."""
    return f"{socket.gethostname()}:{boot_id()}:{os.getpid()}:{kind}{secrets.token_hex(4)}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def owner_parts(owner: str) -> tuple[str, str, int] | None:
    """An owner name's host, boot and process id; None for an owner name of an older
    version."""
    parts = owner.split(":", 3)
    if len(parts) != 4 or not parts[2].isdigit():
        return None
    return parts[0], parts[1], int(parts[2])


def held_by_dead_process_here(owner: str) -> bool:
    """The owner ran on this host and its process is gone (or the host rebooted since)."""
    parts = owner_parts(owner)
    if parts is None or parts[0] != socket.gethostname():
        return False  # another host's, or an owner name of an older version
    _, boot, pid = parts
    return boot != boot_id() or not _alive(pid)


def release_dead_leases(store: JobStore) -> list[str]:
    """Give back every lease held by a process of this host that no longer exists, so
    its jobs are resumed, and its tus uploads accept the next PATCH, at once. Releasing
    is owner-conditional: a lease taken over meanwhile stays."""
    released = []
    for job_id, owner in store.leases().items():
        if held_by_dead_process_here(owner):
            store.release_lease(job_id, owner)
            released.append(job_id)
    if released:
        log.info("released %d lease(s) of dead processes: %s", len(released), released)
    return released
