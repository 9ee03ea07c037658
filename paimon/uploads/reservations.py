"""Disk promised to uploads still arriving, in one ledger every worker shares.

Comparing free space with ``PAIMON_MIN_FREE_BYTES`` once, when an upload starts, let
six tus uploads created while 200 MB above the floor all arrive and leave the disk
700 MB below it. Now an upload of known size (a tus creation, a PUT with a
Content-Length, a multipart body with one) reserves it in ``reservations.json``,
beside the spool in the data directory, under an exclusive ``fcntl`` lock, so two
workers cannot both take the last free bytes.

A reservation is released as its bytes land without anyone writing the ledger: what an
upload still needs is its declared size less what its spool file holds. It goes when
the upload is complete (``release``) or its spool file does (abandoned, terminated,
expired: the next reservation prunes it). The same ledger counts each client's
unfinished uploads against ``PAIMON_MAX_PENDING_UPLOADS``.

And it keeps one client from holding the spool: fifteen slow bodies from one address,
each declaring 5 GiB, held every byte above the floor, and every other client got 507.
A client (a token, else an address) whose unfinished uploads already hold bytes may
reserve more only while all of its reservations together stay within
``PAIMON_MAX_PENDING_SHARE`` of the room the other clients leave (free space above the
floor, less what they may still write); past it, 429 ``too_many_pending_bytes``. A
client's first unfinished upload is bounded by the floor alone, so one upload of any
accepted size still fits a disk with room for it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from paimon.spool.writer import Spool

log = logging.getLogger(__name__)

LEDGER = "reservations.json"

#: The ledger: spool file path -> [declared size, owner (a token or address reference)].
Ledger = dict[str, list]


class ReservationRefused(Exception):
    """``error`` is ``server_full`` or ``too_many_pending``."""

    def __init__(self, error: str, message: str):
        super().__init__(message)
        self.error, self.message = error, message


def still_needed(path: str, size: int) -> int | None:
    """Bytes the upload at ``path`` may still write; None once its spool file is gone."""
    # os.stat, not Path(path).stat(): pathlib interns each path's parts, and this runs
    # for every reservation on every upload, so a worker's interned strings would grow
    # by megabytes with hundreds of uploads held.
    try:
        return max(0, size - os.stat(path).st_size)  # noqa: PTH116
    except FileNotFoundError:
        return None


class Reservations:
    def __init__(self, spool: Spool, min_free_bytes: int, max_pending: int, max_share: float = 1.0):
        self.spool = spool
        self.path = spool.directory.parent / LEDGER
        self.min_free_bytes = min_free_bytes
        self.max_pending = max_pending
        self.max_share = max_share  # of the room others leave, per client; 1: no bound

    def check(self, size: int | None) -> None:
        """Refuse (server_full) when ``size`` more bytes would cross the floor, counting
        what earlier uploads were promised; nothing is reserved."""
        with self._ledger() as ledger:
            self._check_room(sum(_promised(ledger).values()), size or 0)

    def reserve(self, path: Path, size: int, owner: str) -> None:
        """Promise ``size`` bytes to the upload spooled at ``path``, or refuse."""
        with self._ledger() as ledger:
            promised = _promised(ledger)
            pending = sum(1 for _, who in ledger.values() if who == owner)
            if self.max_pending and pending >= self.max_pending:
                raise ReservationRefused(
                    "too_many_pending",
                    f"This client has {pending} unfinished uploads, as many as this server "
                    "keeps for one client (PAIMON_MAX_PENDING_UPLOADS): finish or delete "
                    "one first.",
                )
            total = sum(promised.values())
            self._check_room(total, size)
            self._check_share(promised.get(owner, 0), total, size)
            ledger[str(path)] = [size, owner]

    def outstanding(self) -> tuple[int, int]:
        """How many uploads hold a reservation, and the bytes they may still write."""
        with self._ledger() as ledger:
            promised = sum(_promised(ledger).values())
            return len(ledger), promised

    def _check_share(self, held: int, total: int, size: int) -> None:
        """A client that holds ``held`` bytes already may hold ``size`` more only within
        its share of the room the others leave (free above the floor, less what they
        were promised)."""
        if not held or self.max_share >= 1:
            return
        left_by_others = self.spool.free_bytes() - self.min_free_bytes - (total - held)
        allowed = int(self.max_share * left_by_others)
        if held + size > allowed:
            raise ReservationRefused(
                "too_many_pending_bytes",
                f"This client's unfinished uploads already hold {_mib(held)} of the "
                f"server's disk; one client may hold {self.max_share:.0%} of the room "
                f"other clients leave ({_mib(allowed)} now, PAIMON_MAX_PENDING_SHARE): "
                "send this upload once those are complete.",
            )

    def release(self, path: Path | str) -> None:
        """The upload at ``path`` is complete: it needs no more room."""
        with self._ledger() as ledger:
            ledger.pop(str(path), None)

    def _check_room(self, promised: int, size: int) -> None:
        if not self.spool.has_room_for(promised + size, self.min_free_bytes):
            raise ReservationRefused(
                "server_full",
                "The server is low on disk space and cannot accept uploads right now; "
                "try again later.",
            )

    @contextmanager
    def _ledger(self) -> Iterator[Ledger]:
        """The ledger, read and written back under an exclusive lock (also between
        threads: each call opens the file anew, and flock locks an open file)."""
        self.spool.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            ledger = _read(file)
            before = dict(ledger)
            yield ledger
            if ledger != before:
                file.seek(0)
                file.truncate()
                json.dump(ledger, file)


def _promised(ledger: Ledger) -> dict[str, int]:
    """What the uploads in ``ledger`` may still write, by owner; drops those whose file
    is gone (abandoned, terminated, expired)."""
    promised: dict[str, int] = {}
    for path, (declared, owner) in list(ledger.items()):
        needed = still_needed(path, declared)
        if needed is None:
            del ledger[path]
        else:
            promised[owner] = promised.get(owner, 0) + needed
    return promised


def _mib(n: int) -> str:
    return f"{n / 1024**2:,.0f} MiB"


def _read(file: IO[str]) -> Ledger:
    """The ledger; an unreadable one (a crash mid-write) is started afresh rather than
    refusing every upload: the reservations of uploads then arriving are forgotten."""
    text = file.read()
    try:
        return json.loads(text) if text else {}
    except json.JSONDecodeError:
        log.warning("the disk reservations were unreadable; starting them afresh")
        return {}
