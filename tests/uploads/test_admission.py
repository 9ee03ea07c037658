"""Upload slots (paimon/uploads/admission.py), as a unit; tests/server/test_slow_clients.py
runs them on gunicorn."""

from __future__ import annotations

import pytest

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
