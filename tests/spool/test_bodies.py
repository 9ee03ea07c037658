"""The read buffer's growth (paimon/spool/bodies.py), as a unit: a slow body keeps a small
buffer; tests/server/test_slow_clients.py measures it on gunicorn."""

from __future__ import annotations

import pytest

from paimon.spool.bodies import FIRST_READ_SIZE, GROW_AFTER_BYTES, READ_SIZE, next_read_size


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
