"""Who holds a lease, and whether that process still lives.

An owner name says where and who: ``host:boot:pid:process:<kind><random>``. ``process``
names a lock file, ``<data dir>/owners/<process>.lock``, which the process holds
locked (``flock``) from before it hands out its first owner name until it dies. The
kernel drops the lock when the process exits, whatever the way (SIGKILL, the OOM
killer, a crash), and before it becomes a zombie, since its files are closed first; a
pid handed on to another process, in this PID namespace or in a new one (a container
restarted), takes nothing over. So a lock file nobody holds means its process is dead,
and its leases are given back at once instead of after their expiry.

The lock is asked only of owners of this boot (``/proc/sys/kernel/random/boot_id``):
then the asker shares the kernel that keeps the lock, which is exact on any file
system, a shared volume included. Another boot's owner (another host with the same
Redis, or the same data directory on a network disk; this host before a reboot, which
outlasts a lease) and an owner without a lock file here are left to lease expiry.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import socket
import tempfile
import threading
import time
from functools import cache
from pathlib import Path
from typing import NamedTuple

from paimon.jobs.store import JobStore

log = logging.getLogger(__name__)

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")
UNKNOWN_BOOT = "no-boot-id"  # not Linux: the host name must match too
LOCK_SUFFIX = ".lock"
# A lock file being made (before it is locked and renamed into place) that its process
# left behind when it died in between: removed once this old.
UNFINISHED_LOCK_SECONDS = 60.0


@cache
def boot_id() -> str:
    """This boot of the host's kernel, the one that keeps the owners' locks."""
    try:
        return BOOT_ID_PATH.read_text().strip().replace(":", "") or UNKNOWN_BOOT
    except OSError:
        return UNKNOWN_BOOT


class OwnerName(NamedTuple):
    host: str
    boot: str
    pid: int  # as the owner's own PID namespace numbers it; for people, not for liveness
    process: str  # names the process's lock file


def owner_parts(owner: str) -> OwnerName | None:
    """An owner name's parts; None for a name of an older version (left to expiry)."""
    parts = owner.split(":", 4)
    if len(parts) != 5 or not parts[2].isdigit() or not parts[3].isalnum():
        return None
    return OwnerName(parts[0], parts[1], int(parts[2]), parts[3])


class LeaseOwners:
    """This process's owner names, and the judge of other owners' liveness, through the
    lock files in ``directory`` (shared by every process that uses the same data
    directory)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.process = secrets.token_hex(8)
        self._lock_fd: int | None = None
        self._locking = threading.Lock()
        self._warned = False

    def name(self, kind: str = "") -> str:
        """A new owner name of this process, locking its lock file first if it is not
        yet (while that fails, e.g. the disk is full, its leases are left to expiry)."""
        if self._lock_fd is None:
            with self._locking:
                if self._lock_fd is None:
                    self._lock_fd = self._take_lock()
        host, pid = socket.gethostname(), os.getpid()
        return f"{host}:{boot_id()}:{pid}:{self.process}:{kind}{secrets.token_hex(4)}"

    def _take_lock(self) -> int | None:
        """Make the lock file locked before it has its name, so that a file under that
        name is locked for as long as its process lives."""
        fd = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, making = tempfile.mkstemp(prefix=f".{self.process}", dir=self.directory)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            Path(making).rename(self._lock_path(self.process))
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning(
                    "could not make a lock file in %s (%s): if this process dies, its "
                    "leases run out instead of being given back at once",
                    self.directory,
                    exc.strerror,
                )
            if fd is not None:
                os.close(fd)
            return None
        return fd

    def _lock_path(self, process: str) -> Path:
        return self.directory / f"{process}{LOCK_SUFFIX}"

    def dead(self, owner: str) -> bool:
        """The owner's process is gone for sure: of this boot, its lock file here, and
        nobody holds that lock."""
        parts = owner_parts(owner)
        if parts is None or parts.boot != boot_id() or parts.process == self.process:
            return False
        if parts.boot == UNKNOWN_BOOT and parts.host != socket.gethostname():
            return False
        return _unlocked(self._lock_path(parts.process))

    def release_dead_leases(self, store: JobStore) -> list[str]:
        """Give back every lease held by a dead process, so its jobs are resumed, its
        tus uploads accept the next PATCH, and its webhook deliveries are sent again, at
        once; then remove the lock files of dead processes that no lease names.
        Releasing is owner-conditional: a lease taken over meanwhile stays."""
        verdicts: dict[str, bool] = {}  # by process: one look at each lock per pass
        released, named = [], set()
        held = [
            (store.leases(), store.release_lease),
            (store.delivery_leases(), store.release_delivery_lease),
        ]
        for leases, release in held:
            for leased_id, owner in leases.items():
                parts = owner_parts(owner)
                process = parts.process if parts else owner
                if process not in verdicts:
                    verdicts[process] = self.dead(owner)
                if verdicts[process]:
                    release(leased_id, owner)
                    released.append(leased_id)
                else:
                    named.add(process)
        if released:
            log.info("released %d lease(s) of dead processes: %s", len(released), released)
        self._remove_dead_locks(keep=named)
        return released

    def _remove_dead_locks(self, keep: set[str]) -> None:
        """Lock files of dead processes (and ones a process died making) go, unless a
        lease still names their process."""
        keep = keep | {self.process}
        try:
            paths = list(self.directory.iterdir())
        except OSError:  # none made yet (or unreadable): nothing to remove
            return
        for path in paths:
            if _removable(path, keep) and _unlocked(path):
                path.unlink(missing_ok=True)


def _removable(path: Path, keep: set[str]) -> bool:
    """A lock file of a process ``keep`` does not name, or one whose process died
    making it (files being made are locked only once they have their name)."""
    if path.name.startswith("."):
        return _older_than(path, UNFINISHED_LOCK_SECONDS)
    return path.name.endswith(LOCK_SUFFIX) and path.name.removesuffix(LOCK_SUFFIX) not in keep


def _unlocked(path: Path) -> bool:
    """Nobody holds the lock of this existing file (False when it does not exist)."""
    try:  # for writing: on NFS, flock is a POSIX lock, whose LOCK_EX needs it
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # BlockingIOError: held, its process lives
        return False
    finally:
        os.close(fd)
    return True


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return path.stat().st_mtime < time.time() - seconds
    except FileNotFoundError:
        return False
