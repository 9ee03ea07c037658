"""Upload slots (paimon/uploads/admission.py) and the read buffer's growth
(paimon/spool/bodies.py), as units; tests/test_slow_clients.py runs them on gunicorn."""

from __future__ import annotations

import pytest

from paimon.spool.bodies import FIRST_READ_SIZE, GROW_AFTER_BYTES, READ_SIZE, next_read_size
from paimon.uploads.admission import UploadSlots
from paimon.uploads.refusals import UploadRefused


def test_a_client_holds_its_share_and_the_server_its_capacity() -> None:
    slots = UploadSlots(capacity=3, per_client=2)
    held = [slots.claim("addr:a"), slots.claim("addr:a")]
    with pytest.raises(UploadRefused) as refused:
        slots.claim("addr:a")
    assert refused.value.error == "too_many_uploads"
    held.append(slots.claim("token:b"))
    with pytest.raises(UploadRefused) as refused:
        slots.claim("token:c")
    assert refused.value.error == "server_busy"
    assert slots.held == 3
    held[0].release()
    held[0].release()  # twice is once
    assert slots.held == 2
    slots.claim("addr:a")  # the slot, and its place in the client's share, are free again
    assert slots.held == 3


def test_no_limit_per_client_with_zero() -> None:
    slots = UploadSlots(capacity=5, per_client=0)
    for _ in range(5):
        slots.claim("addr:a")
    with pytest.raises(UploadRefused):
        slots.claim("addr:a")


@pytest.mark.parametrize(
    ("count", "seconds", "received", "grown"),
    [
        (FIRST_READ_SIZE, 0.001, GROW_AFTER_BYTES, 2 * FIRST_READ_SIZE),  # a fast body
        (FIRST_READ_SIZE, 2.0, GROW_AFTER_BYTES, FIRST_READ_SIZE),  # filled slowly: a phone
        (FIRST_READ_SIZE // 2, 0.001, GROW_AFTER_BYTES, FIRST_READ_SIZE),  # not filled
        # Filled at once from what queued while the upload waited: still a phone.
        (FIRST_READ_SIZE, 0.001, 3 * FIRST_READ_SIZE, FIRST_READ_SIZE),
    ],
)
def test_the_buffer_grows_only_for_a_fast_body(
    count: int, seconds: float, received: int, grown: int
) -> None:
    assert next_read_size(FIRST_READ_SIZE, count, seconds, received) == grown


def test_the_buffer_stops_at_its_largest() -> None:
    assert next_read_size(READ_SIZE, READ_SIZE, 0.001, READ_SIZE) == READ_SIZE
    assert next_read_size(768 * 1024, 768 * 1024, 0.001, READ_SIZE) == READ_SIZE
