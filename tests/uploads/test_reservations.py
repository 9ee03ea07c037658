"""The disk reservations ledger on its own, on a tmpfs of its own so that no other
process's writes move the free space under it (CI runs as root)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from paimon.spool.writer import Spool
from paimon.uploads.reservations import LEDGER, ReservationRefused, Reservations
from tests.support.uploads import MIB


@pytest.fixture
def spool(tmpfs: Callable[[int], Path]) -> Path:
    spool = tmpfs(16) / "spool"
    spool.mkdir()
    return spool


def with_room(spool: Path, room: int, max_pending: int = 0, max_share: float = 1.0) -> Reservations:
    """A floor ``room`` bytes below the free space now."""
    floor = shutil.disk_usage(spool).free - room
    return Reservations(Spool(spool), floor, max_pending, max_share)


def test_a_reservation_shrinks_as_bytes_land_and_goes_with_its_file(spool: Path) -> None:
    reservations = with_room(spool, room=10 * MIB)
    upload = spool / "up-a"
    upload.write_bytes(b"")
    reservations.reserve(upload, 8 * MIB, "addr:a")
    with pytest.raises(ReservationRefused) as refused:
        reservations.check(4 * MIB)
    assert refused.value.error == "server_full"
    upload.write_bytes(b"x" * 6 * MIB)  # 6 MiB landed, 2 MiB still promised: 2 MiB left
    reservations.check(1 * MIB)
    with pytest.raises(ReservationRefused):
        reservations.check(3 * MIB)
    upload.unlink()  # abandoned: the next look prunes it
    reservations.check(9 * MIB)
    assert (spool.parent / LEDGER).read_text() == "{}"


def test_pending_uploads_are_counted_per_owner(spool: Path) -> None:
    reservations = with_room(spool, room=10 * MIB, max_pending=2)
    for name in ("up-1", "up-2"):
        (spool / name).write_bytes(b"")
        reservations.reserve(spool / name, 10, "token:t")
    with pytest.raises(ReservationRefused) as refused:
        reservations.reserve(spool / "up-3", 10, "token:t")
    assert refused.value.error == "too_many_pending"
    reservations.reserve(spool / "up-3", 10, "addr:other")  # another client
    reservations.release(spool / "up-1")  # complete
    reservations.reserve(spool / "up-4", 10, "token:t")


def test_one_client_holds_at_most_its_share_of_what_others_leave(spool: Path) -> None:
    """PAIMON_MAX_PENDING_SHARE; margins of a quarter MiB for the tmpfs's own pages."""
    reservations = with_room(spool, room=10 * MIB, max_share=0.5)
    for name in ("up-a1", "up-a2", "up-a3", "up-b1", "up-c1"):
        (spool / name).write_bytes(b"")
    reservations.reserve(spool / "up-a1", 4 * MIB, "addr:a")  # alone: only the floor
    reservations.reserve(spool / "up-a2", 3 * MIB // 4, "addr:a")  # 4.75 of half of 10
    with pytest.raises(ReservationRefused) as refused:
        reservations.reserve(spool / "up-a3", MIB // 2, "addr:a")
    assert refused.value.error == "too_many_pending_bytes"
    reservations.reserve(spool / "up-b1", 4 * MIB, "addr:b")  # another client: its first
    (spool / "up-a1").write_bytes(b"x" * 3 * MIB)  # a's bytes land: it holds less
    # a holds 1.75 MiB; b leaves 10 - 3 (landed) - 4 = 3 MiB, of which a may hold half.
    with pytest.raises(ReservationRefused):
        reservations.reserve(spool / "up-a3", MIB // 2, "addr:a")
    (spool / "up-b1").unlink()  # b went away: 7 MiB left, a may hold 3.5 MiB
    reservations.reserve(spool / "up-a3", MIB, "addr:a")
    # The first upload of a client that holds nothing is bounded by the floor alone.
    reservations.reserve(spool / "up-c1", 3 * MIB, "addr:c")


def test_an_unreadable_ledger_is_started_afresh(spool: Path) -> None:
    reservations = with_room(spool, room=MIB)
    (spool.parent / LEDGER).write_text('{"half": [1')
    reservations.check(10)
    (spool / "up-a").write_bytes(b"")
    reservations.reserve(spool / "up-a", 10, "addr:a")
    assert "up-a" in (spool.parent / LEDGER).read_text()
