"""Connections and buffers that follow the path (issue 29): the POSTs allowed on the wire
double while the aggregate rate grows, settle where it stops, halve when MEGA says it is
overloaded; the buffers stay within MAX_BUFFER_BYTES whatever the window asks for.

The window's decisions are checked with a clock of the test's own (rates are what the
test says they are); the uploader's, through the emulator's shaped network, where a
start of 2 POSTs (instead of 32) keeps files small. Nothing here is timed: the paths
reward more connections by a factor of two or more, or not at all."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from paimon.storage.mega import uploader
from paimon.storage.mega.client import MegaClient
from paimon.storage.mega.codes import ETOOMANYCONNECTIONS
from paimon.storage.mega.errors import RetryPolicy
from paimon.storage.mega.uploader import (
    FEWEST_POSTS,
    MAX_BUFFER_BYTES,
    PROBE_AFTER_ROUNDS,
    START_POSTS,
    TransferStats,
    Uploader,
    _Window,
)
from tests.support.mega import FAST_RETRY, download, publish, spool
from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from tests.support.uploads import MIB


class Clock:
    """Time as the test says it passes."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ShapedWindow:
    """A window on a path of the test's making: ``seconds(posts)`` is how long every POST
    takes when that many fly."""

    def __init__(self, seconds: Callable[[int], float]):
        self.clock = Clock()
        self.window = _Window(64, clock=self.clock)
        self.seconds = seconds

    def rounds(self, count: int, *, full: bool = True) -> list[int]:
        """``count`` rounds: as many 1 MiB POSTs as the window allows go out at once and
        are all answered together; the window's limits so far."""
        for _ in range(count):
            seconds = self.seconds(self.window.limit)
            tickets = [self.window.sending(MIB) for _ in range(self.window.limit)]
            if full:
                self.window.full()
            self.clock.now += seconds
            for ticket in tickets:
                self.window.answered(MIB, seconds, ticket)
        return self.window.history


def test_the_window_doubles_while_the_rate_grows_up_to_its_bound() -> None:
    """Each POST takes half a second however many fly: 32 move 64 MiB/s, 64 twice that."""
    assert START_POSTS == 32
    assert ShapedWindow(lambda posts: 0.5).rounds(4) == [32, 64]


def test_the_window_settles_at_the_fewest_posts_that_give_the_best_rate() -> None:
    """A path of 32 MiB/s in all: each POST takes as long as the others make it."""
    path = ShapedWindow(lambda posts: posts / 32)
    assert path.rounds(3) == [32, 64, FEWEST_POSTS]  # 64 did not pay; neither does 32
    path.rounds(1)
    assert path.window.limit == FEWEST_POSTS  # settled


def test_a_path_that_needs_more_than_the_fewest_keeps_them() -> None:
    """32 POSTs move 32 MiB/s, 64 no more, 16 only 16 MiB/s: the window settles at 32."""
    path = ShapedWindow(lambda posts: 1.0 if posts <= 32 else 2.0)
    assert path.rounds(4) == [32, 64, 16, 32]
    path.rounds(1)
    assert path.window.limit == 32


def test_a_settled_window_probes_for_more_again() -> None:
    path = ShapedWindow(lambda posts: posts / 32)
    path.rounds(3 + PROBE_AFTER_ROUNDS)
    assert path.window.limit == 2 * FEWEST_POSTS


def test_a_window_settled_at_its_bound_probes_for_fewer() -> None:
    """At 64, the setting's bound, a probe can only try 32: if the path still moves as
    much with them (it filled up), the window settles there."""
    path = ShapedWindow(lambda posts: 0.5)  # 32 POSTs at 64 MiB/s, then 64 at 128 MiB/s
    assert path.rounds(2) == [32, 64]
    path.seconds = lambda posts: posts / 64  # now 64 MiB/s however many fly
    path.rounds(PROBE_AFTER_ROUNDS)
    assert path.window.limit == 32
    assert path.rounds(1)[-2:] == [64, 32]


def test_rounds_that_did_not_fill_the_window_are_not_measured() -> None:
    """A body arriving slower than the path (or sealing falling behind) fills no window:
    more connections would not help, so the window does not grow."""
    assert ShapedWindow(lambda posts: 0.5).rounds(4, full=False) == [32]


def test_overload_halves_the_window_whatever_the_path_rewards() -> None:
    path = ShapedWindow(lambda posts: 0.5)
    path.rounds(1)
    assert path.window.limit == 64
    path.window.overloaded()
    assert path.window.limit == 32
    path.window.overloaded()
    assert path.window.limit == 16
    path.rounds(1)  # 16 answers: the ceiling grows back by one
    assert path.window.history[-4:] == [64, 32, 16, 17]


def client_for(sim: MegaSim, retry: RetryPolicy = FAST_RETRY) -> MegaClient:
    return MegaClient(sim.url, V2_EMAIL, SecretStr(V2_PASSWORD), retry=retry)


@pytest.fixture
def small_start(monkeypatch: pytest.MonkeyPatch) -> int:
    """Transfers start at 2 POSTs on the wire (and may settle as low), so that doubling
    shows on files of a few MiB."""
    monkeypatch.setattr(uploader, "START_POSTS", 2)
    monkeypatch.setattr(uploader, "FEWEST_POSTS", 1)
    return 2


def test_connections_grow_on_a_path_that_rewards_them(
    megasim: MegaSim, tmp_path: Path, small_start: int
) -> None:
    """250 ms per request and 4 MB/s per connection, no limit in all: every doubling
    doubles the rate, so the window grows from 2 to the setting's 16; the emulator sees
    that many POSTs at once, on as many connections."""
    client = client_for(megasim)
    payload = os.urandom(64 * MIB + 7)
    megasim.network(latency_ms=250, connection_bytes_per_second=4 * 10**6)
    result = Uploader(client, connections=16, max_post_bytes=MIB).upload(spool(tmp_path, payload))
    transfers = megasim.state()["transfers"]
    megasim.network()
    assert result.stats is not None
    assert result.stats.limits[:4] == (small_start, 4, 8, 16)
    assert result.stats.posts_on_the_wire == transfers["receiving_peak"] == 16
    assert transfers["connections"] == 16
    assert download(megasim, publish(client, result)) == payload


def test_connections_stop_growing_where_the_path_is_full(
    megasim: MegaSim, tmp_path: Path, small_start: int
) -> None:
    """100 ms per request, 8 MB/s per connection but 3 MB/s in all, which 2 POSTs fill:
    the window tries 4, which does not pay, then 1, and settles at the fewest POSTs that
    gave the best rate, far below the setting's 32."""
    client = client_for(megasim)
    payload = os.urandom(16 * MIB + 7)
    megasim.network(
        latency_ms=100, connection_bytes_per_second=8 * 10**6, bytes_per_second=3 * 10**6
    )
    result = Uploader(client, connections=32, max_post_bytes=MIB).upload(spool(tmp_path, payload))
    megasim.network()
    assert result.stats is not None
    assert max(result.stats.limits) <= 2 * 2 * small_start  # one step up too many, at most
    assert result.stats.limits[-1] <= 2 * small_start
    assert download(megasim, publish(client, result)) == payload


def test_too_many_connections_halves_the_posts_on_the_wire(
    megasim: MegaSim, tmp_path: Path
) -> None:
    """MEGA answers -19 (ETOOMANYCONNECTIONS) to the first three POSTs: each halves the
    window (8, 4, 2, 1), which grows back one at a time; the upload completes."""
    client = client_for(megasim)
    payload = os.urandom(12 * MIB + 1)
    megasim.network(latency_ms=300)
    megasim.fault("upload", ETOOMANYCONNECTIONS, count=3)
    result = Uploader(client, connections=8, max_post_bytes=MIB).upload(spool(tmp_path, payload))
    megasim.network()
    assert result.stats is not None
    assert result.stats.limits[:4] == (8, 4, 2, 1)
    assert download(megasim, publish(client, result)) == payload


def test_buffers_stay_within_the_bound_however_many_posts_the_window_allows(
    megasim: MegaSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Starting at the setting's 64 on a path of a second per request: POSTs go out until
    the buffers (64 MiB, MAC scratches included) are all in use, not one more (64
    one-chunk POSTs need more: the first chunks of a file are smaller)."""
    monkeypatch.setattr(uploader, "START_POSTS", 64)
    client = client_for(megasim)
    megasim.network(latency_ms=1000)  # every POST waits: sealing fills the buffers first
    megasim.keep_ciphertext(False)  # 96 MiB the emulator need not store
    source = tmp_path / "big.bin"
    with source.open("wb") as out:
        for _ in range(96):
            out.write(os.urandom(MIB))
    result = Uploader(client, connections=64).upload(source)
    transfers = megasim.state()["transfers"]
    megasim.network()
    stats = result.stats
    assert isinstance(stats, TransferStats)
    assert stats.buffer_bytes <= MAX_BUFFER_BYTES
    assert stats.buffer_bytes > MAX_BUFFER_BYTES - 4 * MIB  # the window asked for all of it
    assert transfers["receiving_peak"] >= 48  # one-chunk POSTs, as many as the buffers hold
