"""The spool writer's pacing of a pipelined transfer: the last bytes wait for the end."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from paimon.spool.writer import ReceiveAborted, Spool, SpoolWriter
from paimon.storage.base import BodySizeChanged

WAIT_SECONDS = 30  # bound on every wait; the waits below need milliseconds


def waiting(writer: SpoolWriter, count: int) -> tuple[threading.Thread, list[BaseException]]:
    """``wait_for_bytes(count)`` in a thread; what it raised, if anything, lands in the list."""
    raised: list[BaseException] = []

    def wait() -> None:
        try:
            writer.wait_for_bytes(count)
        except (ReceiveAborted, BodySizeChanged) as exc:
            raised.append(exc)

    thread = threading.Thread(target=wait)
    thread.start()
    return thread, raised


def test_the_last_bytes_wait_for_the_body_to_end(tmp_path: Path) -> None:
    writer = Spool(tmp_path).new_writer(expected_size=10)
    first, _ = waiting(writer, 4)
    writer.write(memoryview(b"0123456789"))
    first.join(WAIT_SECONDS)
    assert not first.is_alive()  # an earlier piece needs only its bytes
    last, raised = waiting(writer, 10)
    last.join(0.2)
    assert last.is_alive()  # all ten bytes are here, but more could still come
    assert writer.finish()[0] == 10
    last.join(WAIT_SECONDS)
    assert not last.is_alive() and raised == []


@pytest.mark.parametrize("actual", [b"0123", b"0123456789abc"])
def test_a_body_complete_at_another_size_says_its_size(tmp_path: Path, actual: bytes) -> None:
    writer = Spool(tmp_path).new_writer(expected_size=10)
    last, raised = waiting(writer, 10)
    writer.write(memoryview(actual))
    writer.finish()
    last.join(WAIT_SECONDS)
    assert [type(exc) for exc in raised] == [BodySizeChanged]
    assert raised[0].size == len(actual)  # type: ignore[attr-defined]


def test_a_body_given_up_aborts_the_wait(tmp_path: Path) -> None:
    writer = Spool(tmp_path).new_writer(expected_size=10)
    thread, raised = waiting(writer, 8)
    writer.write(memoryview(b"0123"))
    writer.close()  # the client went away
    thread.join(WAIT_SECONDS)
    assert [type(exc) for exc in raised] == [ReceiveAborted]


def test_each_waiter_wakes_when_its_bytes_are_there(tmp_path: Path) -> None:
    """Writes wake waiters only once a target is reached: none may be missed."""
    writer = Spool(tmp_path).new_writer(expected_size=100)
    early, early_raised = waiting(writer, 10)
    late, late_raised = waiting(writer, 50)
    writer.write(memoryview(b"x" * 5))
    writer.write(memoryview(b"x" * 5))
    early.join(WAIT_SECONDS)
    assert not early.is_alive()
    late.join(0.2)
    assert late.is_alive()  # 10 of its 50 bytes
    for _ in range(8):
        writer.write(memoryview(b"x" * 5))
    late.join(WAIT_SECONDS)
    assert not late.is_alive()
    assert early_raised == late_raised == []
    writer.close()
