"""Several POSTs on the wire per upload, through the emulator's shaped network: how many
connections, MACs in file order whatever order MEGA takes the ranges in, storms of
"slow down" answers, and a growing file whose client goes away."""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future
from pathlib import Path

import pytest
from pydantic import SecretStr

from paimon.spool.writer import ReceiveAborted, Spool
from paimon.storage.mega.client import MegaClient
from paimon.storage.mega.codes import EAGAIN, ETOOMANYCONNECTIONS
from paimon.storage.mega.errors import RetryPolicy
from paimon.storage.mega.uploader import Uploader, _Arena, _Window
from tests.support.mega import FAST_RETRY, download, publish, spool
from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from tests.support.servers import eventually
from tests.support.uploads import MIB

#: More attempts per range than a storm has faults: the upload must survive it.
PATIENT_RETRY = RetryPolicy(attempts=20, initial_wait=0.005, max_wait=0.02)


def client_for(sim: MegaSim, retry: RetryPolicy = FAST_RETRY) -> MegaClient:
    return MegaClient(sim.url, V2_EMAIL, SecretStr(V2_PASSWORD), retry=retry)


def test_posts_fly_on_their_own_connections_and_macs_stay_in_order(
    megasim: MegaSim, tmp_path: Path
) -> None:
    """200 ms before each answer: the uploader keeps 4 POSTs waiting at once, each on a
    keep-alive connection of its own; the link decrypts and its meta-MAC checks."""
    client = client_for(megasim)
    payload = os.urandom(12 * MIB + 5)
    megasim.network(latency_ms=200)
    result = Uploader(client, connections=4, max_post_bytes=MIB).upload(spool(tmp_path, payload))
    transfers = megasim.state()["transfers"]
    megasim.network()
    assert transfers["connections"] == 4
    assert transfers["receiving_peak"] == 4
    assert download(megasim, publish(client, result)) == payload


def test_the_arena_hands_out_slices_as_a_ring_and_never_overlaps_a_busy_one() -> None:
    arena = _Arena(10)
    first, second = Future[str](), Future[str]()
    assert arena.take(6) == (0, 6)
    arena.hold(first, (0, 6))
    assert arena.take(6) is None  # would wrap onto the busy slice
    assert arena.take(4) == (6, 10)
    arena.hold(second, (6, 10))
    arena.release(first)
    assert arena.take(6) == (0, 6)  # wrapped, the slice answered
    assert len(arena.view((0, 6))) == 6


@pytest.mark.parametrize("code", [ETOOMANYCONNECTIONS, EAGAIN])
def test_a_storm_of_slow_down_answers_does_not_fail_the_upload(
    megasim: MegaSim, tmp_path: Path, code: int
) -> None:
    client = client_for(megasim, PATIENT_RETRY)
    payload = os.urandom(6 * MIB + 1)
    megasim.fault("upload", code, count=12)
    result = Uploader(client, connections=4, max_post_bytes=MIB).upload(spool(tmp_path, payload))
    assert megasim.state()["faults"] == []  # every range that failed was sent again
    assert download(megasim, publish(client, result)) == payload


def test_the_window_halves_when_overloaded_and_grows_back() -> None:
    """Without rates the window is its ceiling: halved on overload, grown back by one
    after as many answers."""
    window = _Window(8)
    window.overloaded()
    window.overloaded()
    assert window.limit == 2
    for _ in range(2):
        window.answered()
    assert window.limit == 3
    for _ in range(100):
        window.answered()
    assert window.limit == 8
    for _ in range(10):
        window.overloaded()
    assert window.limit == 1


def test_the_window_wishes_for_as_many_posts_as_keep_up_with_sealing() -> None:
    window = _Window(8)
    window.sealed(1000, 1.0)  # 1000 B/s of sealing
    window.answered(250, 1.0)  # one POST moves 250 B/s: 4 keep up
    assert window.limit == 4
    window.answered(1, 1.0)  # a slow path (smoothed): as many as allowed
    assert window.limit == 8


def test_the_window_wishes_for_one_post_when_one_moves_enough() -> None:
    """Loopback: sealing at 2 GB/s, one POST at 300 MB/s; more connections would only
    make POSTs smaller."""
    window = _Window(16)
    window.sealed(2 * 10**9, 1.0)
    window.answered(300 * 10**6, 1.0)
    assert window.limit == 1


def test_a_growing_file_whose_client_goes_away_stops_cleanly(
    megasim: MegaSim, tmp_path: Path
) -> None:
    """The body stops halfway: the upload fails with ReceiveAborted, no POST is left on
    the wire and no sender thread outlives it."""
    client = client_for(megasim)
    size = 8 * MIB
    writer = Spool(tmp_path).new_writer(expected_size=size)
    megasim.network(latency_ms=50)

    def receive_half_then_vanish() -> None:
        writer.write(memoryview(os.urandom(size // 2)))
        writer.close()

    before = set(threading.enumerate())  # other tests' threads are not this upload's
    receiver = threading.Thread(target=receive_half_then_vanish)
    receiver.start()
    try:
        with pytest.raises(ReceiveAborted):
            Uploader(client, connections=4, max_post_bytes=MIB).upload(
                writer.path, size=size, wait_for_bytes=writer.wait_for_bytes
            )
    finally:
        receiver.join()
    senders = [thread for thread in threading.enumerate() if "mega-post" in thread.name]
    assert not [thread for thread in senders if thread not in before]
    # The emulator counts a POST done just after its answer went out: poll, don't race it.
    assert eventually(lambda: megasim.state()["transfers"]["receiving"] == 0)
    megasim.network()
