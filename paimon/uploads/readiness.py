"""Checks shared by `paimon doctor` and GET /readyz, so both judge the same way."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from paimon.spool.writer import Spool
from paimon.storage.base import StorageBackend, StorageError

if TYPE_CHECKING:
    from paimon.jobs.store import JobStore
    from paimon.uploads.quota import Space


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    warning: bool = False  # worth a look, but nothing fails because of it


def _mib(n: int) -> str:
    return f"{n / 1024**2:,.0f} MiB"


def check_spool(spool: Spool, min_free_bytes: int, *, shown: str | None = None) -> CheckResult:
    """The spool directory exists (or can be made), is writable and has room. Its
    details name it ``shown`` (GET /readyz, which anyone may read, says "the spool"
    rather than where the data directory is), else by its path (`paimon doctor`)."""
    name = "spool"
    where = shown or spool.directory
    try:
        reached = spool.reach()  # a bucket (PAIMON_SPOOL_URL) has no disk to look at
    except StorageError as exc:
        return CheckResult(name, False, exc.message)
    if reached:
        return CheckResult(name, True, reached if shown is None else f"{shown} answers")
    try:
        spool.directory.mkdir(parents=True, exist_ok=True)
        probe = spool.directory / f".probe-{os.getpid()}-{threading.get_ident()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        return CheckResult(name, False, f"{where} is not writable: {exc.strerror}")
    free = spool.free_bytes()
    if not spool.has_room_for(0, min_free_bytes):
        return CheckResult(
            name,
            False,
            f"{where} has {_mib(free)} free, below PAIMON_MIN_FREE_BYTES ({_mib(min_free_bytes)})",
        )
    return CheckResult(name, True, f"{where} writable, {_mib(free)} free")


def check_storage(storage: StorageBackend) -> CheckResult:
    """The storage backend can take uploads now."""
    try:
        storage.check()
    except StorageError as exc:
        return CheckResult("storage", False, exc.message)
    return CheckResult("storage", True, f"{storage.name} ready")


def check_storage_space(space: Space, low_bytes: int) -> CheckResult:
    """The storage account's free space (less what transfers were promised): below
    ``low_bytes`` (PAIMON_STORAGE_MIN_FREE_BYTES) the check is a warning, "degraded":
    uploads that fit are still taken, larger ones refused before their body."""
    detail = (
        f"{_mib(space.free_bytes)} free of {_mib(space.total_bytes)} "
        f"({_mib(space.promised_bytes)} promised to uploads under way)"
    )
    if low_bytes and space.free_bytes < low_bytes:
        return CheckResult(
            "storage_space",
            True,
            f"degraded: {detail}, below PAIMON_STORAGE_MIN_FREE_BYTES ({_mib(low_bytes)})",
            warning=True,
        )
    return CheckResult("storage_space", True, detail)


def check_jobs(store: JobStore) -> CheckResult:
    """The job store answers (SQLite file, or Redis)."""
    try:
        store.check()
    except Exception as exc:  # the store's own message says what is wrong
        return CheckResult("jobs", False, str(exc))
    return CheckResult("jobs", True, f"{store.name} job store answers")


def check_retries(storage_name: str, store: JobStore) -> CheckResult:
    """The storage backend counts as degraded while transfers it failed with a temporary
    error wait for their automatic retry: its login and folder may answer while uploads
    do not. Every worker sees it, since the job store is shared."""
    try:
        waiting = len(store.awaiting_retry())
    except Exception:  # the job store's own check reports it
        waiting = 0
    if waiting:
        return CheckResult(
            "storage",
            False,
            f"{storage_name} is degraded: {waiting} upload(s) failed with a temporary "
            "error and wait for an automatic retry",
        )
    return CheckResult("storage", True, f"{storage_name} ready")
