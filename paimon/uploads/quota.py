"""The storage account's free space, kept current, and what transfers were promised.

MEGA answers ``uq`` with the account's used and total bytes. Asking before every upload
costs a round trip; asking on a timer alone let an upload that could not fit be received
whole and fail only in its transfer (507 ``storage_full``). So the last answer is kept in
``storage-quota.json`` in the data directory, shared by the instance's workers under an
``fcntl`` lock: it is asked again after every transfer that ends and every delete (the
account changed), and when older than QUOTA_MAX_AGE_SECONDS. Beside it, the bytes
promised to uploads admitted but not yet stored (declared sizes, by job), so that two
uploads that each fit, but not together, are not both taken. An upload of known size
that would not fit in what is left is refused before its body (``storage_full``, 507,
naming the free space), after asking MEGA once more (room made since, a larger plan).

Each instance keeps its own ledger: instances sharing one account see each other's
transfers only through MEGA's own count, at the latest after QUOTA_MAX_AGE_SECONDS.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from paimon.storage.base import StorageBackend, StorageError, StorageUsage
from paimon.uploads.refusals import UploadRefused

log = logging.getLogger(__name__)

LEDGER = "storage-quota.json"
#: Seconds the account's usage is trusted without a transfer or delete to refresh it.
QUOTA_MAX_AGE_SECONDS = 60.0
#: A promise whose transfer never reported its end (its worker was killed) is
#: forgotten after this long, so a crash cannot hold the account's space for ever.
PROMISE_MAX_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class Space:
    """The account as the last ``uq`` saw it, and what transfers were promised since."""

    used_bytes: int
    total_bytes: int
    promised_bytes: int

    @property
    def free_bytes(self) -> int:
        """What an upload admitted now may still use."""
        return max(0, self.total_bytes - self.used_bytes - self.promised_bytes)


class StorageQuota:
    """Admission against the storage account's free space (MEGA's ``uq``); a backend that
    does not tell its usage (local disk: the spool's floor watches it) is never refused
    here."""

    def __init__(self, storage: StorageBackend, data_dir: Path, low_bytes: int = 0):
        self._storage = storage
        self.path = data_dir / LEDGER
        self.low_bytes = low_bytes  # below this much free, /readyz says degraded

    def check(self, size: int | None) -> None:
        """Refuse (``storage_full``) an upload of ``size`` bytes that would not fit in the
        account beside what was promised; unknown sizes and untracked backends pass."""
        if not size:
            return
        space = self.space()
        if space is not None and size > space.free_bytes:
            space = self.refresh()  # before refusing, MEGA's word now: the owner may have made room
        if space is not None and size > space.free_bytes:
            raise UploadRefused(
                "storage_full",
                f"The storage account has {_bytes(space.free_bytes)} free, less than this "
                f"upload's {_bytes(size)}: nothing of it was received. Free some space "
                "(or wait for uploads under way to finish) and send it again.",
                {"free_bytes": space.free_bytes, "retryable": False},
            )

    def space(self) -> Space | None:
        """The account's space now: the shared last answer, asked again when stale."""
        with self._ledger() as ledger:
            fresh = time.time() - ledger.get("asked_at", 0) < QUOTA_MAX_AGE_SECONDS
        if not fresh:
            return self.refresh()
        return _space(ledger)

    def known(self) -> Space | None:
        """The space as last asked, without asking (for status pages: never waits)."""
        with self._ledger() as ledger:
            return _space(ledger)

    def refresh(self) -> Space | None:
        """Ask the backend for its usage now (outside the lock: it is a network call) and
        keep the answer for every worker; None when it does not tell or does not answer."""
        try:
            usage = self._storage.usage()
        except StorageError as exc:
            log.info("the storage account's usage is unknown: %s", exc.message)
            usage = None
        with self._ledger() as ledger:
            ledger["asked_at"] = time.time()
            if usage is None or usage.total_bytes is None:
                ledger.pop("usage", None)
                return None
            ledger["usage"] = [usage.used_bytes, usage.total_bytes]
            return _space(ledger)

    def usage(self) -> StorageUsage | None:
        """The account's usage as last asked (for GET /status); asked again when stale."""
        space = self.space()
        if space is None:
            return None
        return StorageUsage(used_bytes=space.used_bytes, total_bytes=space.total_bytes)

    def promise(self, job_id: str, size: int) -> None:
        """An upload of ``size`` bytes was admitted: count it until its transfer ends."""
        with self._ledger() as ledger:
            if "usage" in ledger:  # a backend that does not tell its usage needs none
                ledger.setdefault("promises", {})[job_id] = [size, time.time()]

    def transfer_ended(self, job_id: str) -> None:
        """A transfer ended (stored, failed, or its body abandoned): its promise goes, and
        the account's usage is asked again, since it may have changed."""
        with self._ledger() as ledger:
            ledger.get("promises", {}).pop(job_id, None)
            tracked = "usage" in ledger
        if tracked:
            self.refresh()

    def forget(self, job_id: str) -> None:
        """An upload admitted but never received (abandoned, refused): its promise goes."""
        with self._ledger() as ledger:
            ledger.get("promises", {}).pop(job_id, None)

    def changed(self) -> None:
        """Something was deleted from the account: ask its usage again (when tracked)."""
        with self._ledger() as ledger:
            tracked = "usage" in ledger
        if tracked:
            self.refresh()

    @contextmanager
    def _ledger(self) -> Iterator[dict[str, Any]]:
        """The ledger, read and written back under an exclusive lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            ledger = _read(file)
            before = json.dumps(ledger, sort_keys=True)
            yield ledger
            if json.dumps(ledger, sort_keys=True) != before:
                file.seek(0)
                file.truncate()
                json.dump(ledger, file)


def _space(ledger: dict[str, Any]) -> Space | None:
    usage = ledger.get("usage")
    if usage is None:
        return None
    now = time.time()
    promises = ledger.get("promises", {})
    for job_id, (_, at) in list(promises.items()):
        if now - at > PROMISE_MAX_SECONDS:
            del promises[job_id]
    promised = sum(size for size, _ in promises.values())
    return Space(used_bytes=usage[0], total_bytes=usage[1], promised_bytes=promised)


def _bytes(n: int) -> str:
    """A size for a person: MiB with the exact count, which scripts may parse."""
    return f"{n / 1024**2:,.1f} MiB ({n:,} bytes)"


def _read(file: IO[str]) -> dict[str, Any]:
    """The ledger; an unreadable one (a crash mid-write) is started afresh."""
    text = file.read()
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError:
        log.warning("the storage quota ledger was unreadable; starting it afresh")
        return {}
    return value if isinstance(value, dict) else {}
