"""``/_sim/network``: the emulator as a long path to MEGA (latency, per-connection and
total caps on upload bodies). Only lower bounds on time are asserted: a shaped path can
be slower than asked on a busy machine, never faster."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests
from mega import Mega
from mega.crypto import get_chunks

from tests.support.megasim import MegaSim, upload_url
from tests.support.servers import eventually

KIB = 1024


def timed_post(session: requests.Session, url: str, body: bytes) -> float:
    start = time.perf_counter()
    response = session.post(url, data=body, timeout=60)
    response.raise_for_status()
    return time.perf_counter() - start


def test_network_is_shown_in_state_and_cleared_by_reset(megasim: MegaSim) -> None:
    reply = megasim.network(latency_ms=5, connection_bytes_per_second=3000, bytes_per_second=9000)
    shape = {"latency_ms": 5, "connection_bytes_per_second": 3000, "bytes_per_second": 9000}
    assert reply == shape
    state = megasim.state()
    assert state["network"] == shape
    assert state["throttle_bytes_per_second"] == 9000  # the total cap is today's throttle
    megasim.reset()
    state = megasim.state()
    assert state["network"] == dict.fromkeys(shape, 0)
    assert state["throttle_bytes_per_second"] == 0


def test_absent_fields_lift_limits_and_bad_values_are_refused(megasim: MegaSim) -> None:
    response = requests.post(f"{megasim.url}/_sim/network", json={"latency_ms": 7}, timeout=10)
    assert response.json() == {
        "latency_ms": 7,
        "connection_bytes_per_second": 0,
        "bytes_per_second": 0,
    }
    for bad in ({"latency_ms": -1}, {"bytes_per_second": "fast"}, {"latency_ms": True}):
        response = requests.post(f"{megasim.url}/_sim/network", json=bad, timeout=10)
        assert response.status_code == 400
    assert megasim.state()["network"]["latency_ms"] == 7  # refused requests change nothing


def test_latency_delays_api_and_upload_answers(megasim: MegaSim, v2_client: Mega) -> None:
    url = upload_url(v2_client, 128 * KIB)
    megasim.network(latency_ms=200)
    session = requests.Session()
    start = time.perf_counter()
    session.post(f"{megasim.url}/cs?id=1", json=[{"a": "us0", "user": "x@y.z"}], timeout=10)
    assert time.perf_counter() - start >= 0.2
    assert timed_post(session, f"{url}/0", bytes(128 * KIB)) >= 0.2


def test_each_connection_is_capped_and_counted(megasim: MegaSim, v2_client: Mega) -> None:
    """Two connections send one range each at once: each takes at least its share's time,
    and the emulator saw both bodies arrive together, on two connections."""
    chunks = list(get_chunks(1024 * KIB))[:2]  # 128 KiB and 256 KiB
    url = upload_url(v2_client, 1024 * KIB)
    megasim.network(connection_bytes_per_second=512 * KIB)
    with ThreadPoolExecutor(2) as pool:
        seconds = list(
            pool.map(
                lambda chunk: timed_post(requests.Session(), f"{url}/{chunk[0]}", bytes(chunk[1])),
                chunks,
            )
        )
    assert seconds[0] >= 0.25 and seconds[1] >= 0.5
    assert megasim.state()["transfers"]["connections"] == 2
    # A POST is counted done just after its answer went out: poll, don't race it.
    assert eventually(lambda: megasim.state()["transfers"]["receiving"] == 0)


def test_the_total_cap_is_shared_by_all_connections(megasim: MegaSim, v2_client: Mega) -> None:
    url = upload_url(v2_client, 1024 * KIB)
    megasim.network(bytes_per_second=512 * KIB)
    assert timed_post(requests.Session(), f"{url}/0", bytes(128 * KIB)) >= 0.25
