"""Paimon's own MEGA uploader (mega.py's ``upload()`` is slow and fragile).

The file is read one POST at a time into a slice of a reusable arena; its MEGA chunks
are MACed with one bulk CBC call each and the whole POST is CTR-encrypted in place with
one call, so the bytes are never copied. Up to ``connections`` POSTs are on the wire at
once, each from a sender thread with a keep-alive connection of its own (a long path to
MEGA gives each connection only a share of the link, which is why MEGA's own clients
send several), while the next POST is read and sealed: with OpenSSL releasing the GIL,
crypto and network overlap. MEGA takes ranges in any order; the chunk MACs are computed
in file order as the POSTs are sealed, and progress is the answered prefix of the file.

How many POSTs are allowed on the wire follows what is measured (``_Window``): the
path's aggregate rate (``_Reach``: from 32, doubled while that raises the rate, settled
at the fewest that give the best), MEGA's word (halved when it says it is overloaded:
-3, -4, -6, -18, -19, 5xx, a timeout or a dropped connection; grown back by one after as
many answered POSTs) and the CPU (no more than it takes for the network to keep up with
sealing: on loopback a few big POSTs). A failed POST is retried alone with bounded
backoff. An expired upload URL (``-8``) gets a fresh one and the upload starts over.

Memory is bounded whatever the file's size: one arena per transfer (touched only as
used), each POST a slice of it no larger than ``BASE_ARENA_BYTES / (POSTs allowed on the
wire + 1)``, so more connections mean smaller POSTs; past 19 POSTs of one chunk the arena
grows by a chunk per POST allowed, so that what is in flight follows the path's measured
bandwidth-delay product, within ``MAX_BUFFER_BYTES`` (64 MiB) with the MAC scratches.

Transfers resume (``Checkpoint``): the upload URL, the file key and the answered prefix
are checkpointed as the prefix grows, so a transfer taken over after its worker died,
or handed back at shutdown, sends only what MEGA had not acknowledged, with the same
URL and key. The chunk MACs of the prefix are not kept: they are computed again from
the spool file (sealing without sending, a fraction of a second per 100 MiB), which
does not change once complete, so they come out as the first attempt's did. A URL
MEGA no longer takes (``-8``) starts over.

The file may still be growing: with ``size`` and ``wait_for_bytes`` the uploader sends
each POST as soon as its bytes have arrived (the caller's spool decides when that is).
When ``size`` was a guess that the complete body proves wrong (BodySizeChanged), the
upload starts over at the real size, from the file that is whole by then.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import mmap
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import requests
from mega.crypto import a32_to_base64, base64_to_a32

from paimon.storage.base import (
    BodySizeChanged,
    Checkpoint,
    ProgressCallback,
    StorageError,
    WaitForBytes,
)
from paimon.storage.mega.client import MegaClient
from paimon.storage.mega.codes import EEXPIRED
from paimon.storage.mega.crypto import (
    MAX_CHUNK,
    FileKey,
    NodeKey,
    chunk_spans,
    mac_scratch,
    meta_mac,
    node_key,
    seal,
)
from paimon.storage.mega.errors import MegaApiError, ServerError, is_transient

log = logging.getLogger(__name__)

DEFAULT_MAX_POST = 8 * MAX_CHUNK
#: (connect, read) seconds for one POST of ciphertext.
UPLOAD_TIMEOUT = (10.0, 120.0)
_ERROR_REPLY = re.compile(r"-\d+")
#: Buffers of one transfer at most, whatever its size, path and connection count: the
#: arena its POSTs are sealed in and sent from, and a MAC scratch per sealing thread.
MAX_BUFFER_BYTES = 64 * MAX_CHUNK
#: The arena POST sizes are cut from: one connection sends 8 MiB POSTs (two of them
#: fit, as before), ten or more send one-chunk (1 MiB) POSTs, and past 19 the arena
#: grows by a chunk per POST allowed on the wire, within MAX_BUFFER_BYTES.
BASE_ARENA_BYTES = 20 * MAX_CHUNK
#: POSTs on the wire at once per upload at most (PAIMON_MEGA_UPLOAD_CONNECTIONS;
#: docs/mega.md): as many one-chunk POSTs as MAX_BUFFER_BYTES holds, about.
DEFAULT_CONNECTIONS = 64

#: Two gigabits: a transfer that moves this much needs no more connections. (One
#: gigabit was too close to a 100 MB/s path: one fast POST's sample held it back.)
ENOUGH_BYTES_PER_SECOND = 250e6
#: POSTs allowed on the wire when a transfer starts, before anything was measured (or
#: the setting, if lower): the first round trips of a long path matter.
START_POSTS = 32
#: The fewest the reach goes down to: with fewer, the arena is at its floor anyway.
FEWEST_POSTS = 16
#: While the aggregate rate rises, the POSTs allowed double after each round...
GROWTH_STEP = 2
#: ... whose rate beat the round before by at least a tenth.
GROWTH_GAIN = 0.1
#: Rounds of fewer answers measure noise (a round is one answer per POST allowed).
MIN_ROUND_ANSWERS = 4
#: Rounds after the reach settled before it climbs again (the path may have changed).
PROBE_AFTER_ROUNDS = 8

#: Threads sealing one POST together (the caller's and pool threads), one per core, at
#: most 8 (each has a one-chunk MAC scratch within MAX_BUFFER_BYTES).
SEAL_THREADS = min(8, os.cpu_count() or 1)


@dataclass(frozen=True)
class PostRange:
    """Consecutive MEGA chunks sent in one POST to ``<upload-url>/<offset>``."""

    offset: int
    chunks: tuple[tuple[int, int], ...]

    @property
    def length(self) -> int:
        return sum(length for _, length in self.chunks)


def plan_posts(size: int, max_post_bytes: int = DEFAULT_MAX_POST) -> list[PostRange]:
    """Group the file's chunks into POSTs of at most ``max_post_bytes`` (or one chunk).

    An empty file is one empty POST at offset 0.
    """
    return list(_posts(size, lambda: max_post_bytes))


def _posts(
    size: int, max_post_bytes: Callable[[], int], start: int = 0, end: int | None = None
) -> Iterator[PostRange]:
    """``plan_posts`` one POST at a time, each within the limit in force when it is
    formed (the uploader's depends on how many POSTs may be on the wire by then); only
    the chunks from ``start`` to ``end`` (chunk boundaries; default: the whole file)."""
    end = size if end is None else end
    group: list[tuple[int, int]] = []
    for span in chunk_spans(size):
        if span[0] < start or span[0] >= end:
            continue
        if group and sum(length for _, length in group) + span[1] > max_post_bytes():
            yield PostRange(group[0][0], tuple(group))
            group = []
        group.append(span)
    yield PostRange(group[0][0] if group else start, tuple(group))


@dataclass(frozen=True)
class _Resumable:
    """What a checkpoint holds: enough to go on with an upload URL from ``acked``."""

    url: str
    key: FileKey
    size: int
    acked: int

    def dump(self) -> str:
        words = (*self.key.aes, *self.key.nonce)
        return json.dumps(
            {"url": self.url, "key": a32_to_base64(words), "size": self.size, "acked": self.acked}
        )

    @classmethod
    def load(cls, checkpoint: Checkpoint | None, size: int) -> _Resumable | None:
        """The checkpointed upload of this file, if there is one worth going on with:
        the same size, something acknowledged. The last chunk is always sent again, so
        that MEGA's answer to it brings the completion handle."""
        text = checkpoint.load() if checkpoint else None
        try:
            state = json.loads(text) if text else None
            if not state or state["size"] != size or not 0 < state["acked"] <= size:
                return None
            words = base64_to_a32(state["key"])
            key = FileKey(aes=tuple(words[:4]), nonce=tuple(words[4:6]))  # type: ignore[arg-type]
            last_chunk = chunk_spans(size)[-1][0]
            return cls(str(state["url"]), key, size, min(int(state["acked"]), last_chunk))
        except (ValueError, KeyError, TypeError, IndexError):
            log.warning("a transfer checkpoint could not be read; starting over")
            return None


@dataclass(frozen=True)
class TransferStats:
    """What the last pass of an upload measured: for the log line, tests and benchmarks."""

    sent_bytes: int
    seconds: float
    posts_on_the_wire: int  # most at once
    buffer_bytes: int  # the arena the pass touched and the MAC scratches
    limits: tuple[int, ...]  # the POSTs allowed on the wire, each time it changed


@dataclass(frozen=True)
class UploadResult:
    completion_handle: str  # what the last POST returned; ``p`` turns it into a node
    node_key: NodeKey
    size: int
    stats: TransferStats | None = None


class _Progress:
    """Reports the high-water mark of acknowledged bytes, so a restart never goes back."""

    def __init__(self, callback: ProgressCallback | None):
        self._callback = callback
        self._reported = -1

    def acknowledged(self, total: int) -> None:
        if self._callback and total > self._reported:
            self._reported = total
            self._callback(total)


@dataclass(frozen=True)
class _Ticket:
    """What the window noted when a POST went on the wire."""

    sent: float  # the clock then
    area: float  # the window's byte-seconds in flight then
    level: int  # how many times the limit had changed


@dataclass
class _Round:
    """One round of the window: as many answers as POSTs were allowed when it began
    (about one POST's round trip). Its rate is Little's law over the POSTs of a chunk or
    more answered in it that were sent at its level: their mean bytes in flight over their
    mean time on the wire. Unlike bytes answered over the round's time, that rate does not
    mix in the POSTs of the level before (the pipe filling or draining after a change)."""

    allowed: int
    level: int
    answers: int = 0
    in_flight: float = 0.0  # the sum of the measured POSTs' mean bytes in flight
    seconds: float = 0.0  # the sum of their times on the wire
    measured: int = 0
    full: bool = False  # a POST waited for room meanwhile: the limit held it back

    @property
    def rate(self) -> float:
        return self.in_flight / self.seconds if self.seconds > 0 else 0.0


class _Reach:
    """How many POSTs the path rewards, found by measuring: a hill climb on the
    aggregate rate of rounds during which it was what held the POSTs back.

    Measure at the reach; try twice as many (up to ``most``) while doing so raised the
    rate by ``GROWTH_GAIN``; if the first step up did not (or none was possible), try
    half as many (not below ``FEWEST_POSTS``: fewer would save no buffers); settle at the
    fewest POSTs that gave the best rate (within ``GROWTH_GAIN / 2``). After
    ``PROBE_AFTER_ROUNDS`` rounds, climb again from there: the path may have changed (a
    shared uplink freed up, or filled).
    """

    def __init__(self, most: int):
        self.most = most
        self.value = min(START_POSTS, most)
        self._climb: list[tuple[int, float]] = []  # (reach, rate) measured in this climb
        self._settled: int | None = None  # rounds since it settled; None while climbing

    def measured(self, rate: float) -> None:
        """A round at ``value`` POSTs moved ``rate`` bytes/s."""
        if self._settled is not None:
            self._settled += 1
            if self._settled < PROBE_AFTER_ROUNDS:
                return
            self._settled, self._climb = None, []
        self._climb.append((self.value, rate))
        following = self._following()
        if following is not None:
            self.value = following
            return
        best = max(rate for _, rate in self._climb)
        self.value = min(
            reach for reach, rate in self._climb if rate >= best * (1 - GROWTH_GAIN / 2)
        )
        self._settled = 0

    def _following(self) -> int | None:
        """The reach to measure next, or None: settle."""
        reach, rate = self._climb[-1]
        up = min(self.most, reach * GROWTH_STEP)
        if len(self._climb) == 1:  # up, or down if already at the most
            return up if up > reach else self._fewer(reach)
        before, before_rate = self._climb[-2]
        if reach > before and rate >= before_rate * (1 + GROWTH_GAIN):
            return up if up > reach else None
        if reach > before and len(self._climb) == 2:  # the first step up did not pay
            return self._fewer(before)
        return None

    @staticmethod
    def _fewer(reach: int) -> int | None:
        fewer = max(FEWEST_POSTS, reach // GROWTH_STEP)
        return fewer if fewer < reach else None


class _Window:
    """How many POSTs may be on the wire: the least of three limits, each following
    something measured. Thread-safe.

    - The ceiling follows MEGA's word: halved when it says it is overloaded (-3, -4, -6,
      -18, -19, 5xx, a time-out or a dropped connection), grown back by one after as
      many answered POSTs, up to ``most``.
    - The wish follows the CPU: as many POSTs as it takes for the network to keep up
      with sealing or to reach ``ENOUGH_BYTES_PER_SECOND``, whichever is less (that rate
      over one POST's rate): on a short path (loopback) more connections would only make
      POSTs smaller, and per-request costs are what runs out.
    - The reach follows the path's aggregate rate (``_Reach``), measured in rounds
      (``_Round``). A round counts only if the window was full and the reach was the
      least of the three: otherwise the path was not what held the upload back.
    """

    def __init__(self, most: int, *, clock: Callable[[], float] = time.monotonic):
        self.most = most
        self._clock = clock
        self._ceiling = most
        self._wish = most
        self._reach = _Reach(most)
        self._answered = 0  # since the ceiling last grew
        self._post_rate = 0.0  # bytes/s of one POST, smoothed
        self._seal_rate = 0.0  # bytes/s of reading and sealing one POST, smoothed
        self._lock = threading.Lock()
        self._in_flight = 0  # bytes on the wire now
        self._area = 0.0  # byte-seconds on the wire so far
        self._area_at = clock()
        self.history = [self.limit]  # the limit, each time it changed (TransferStats)
        self._round = _Round(self.limit, len(self.history))

    @property
    def limit(self) -> int:
        return min(self._ceiling, self._wish, self._reach.value)

    def sending(self, byte_count: int) -> _Ticket:
        """A POST of ``byte_count`` bytes goes on the wire."""
        with self._lock:
            now = self._advance()
            self._in_flight += byte_count
            return _Ticket(now, self._area, len(self.history))

    def full(self) -> None:
        """A POST waits for an answer before it may go: the limit holds it back."""
        with self._lock:
            self._round.full = True

    def overloaded(self) -> None:
        with self._lock:
            self._ceiling = max(1, self._ceiling // 2)
            self._answered = 0
            self._changed()

    def answered(
        self, byte_count: int = 0, seconds: float = 0.0, ticket: _Ticket | None = None
    ) -> None:
        """A POST of ``byte_count`` bytes was answered, its last attempt after ``seconds``."""
        with self._lock:
            self._answered += 1
            if self._ceiling < self.most and self._answered >= self._ceiling:
                self._ceiling += 1
                self._answered = 0
            if byte_count and seconds > 0:
                self._post_rate = _smooth(self._post_rate, byte_count / seconds)
                self._rewish()
            round_ = self._round
            round_.answers += 1
            if ticket is not None:
                now = self._advance()
                self._in_flight -= byte_count
                on_the_wire = now - ticket.sent
                # The file's first chunks are smaller: POSTs of them move less per round
                # trip, which would make the first rounds look slower than the path.
                whole = byte_count >= MAX_CHUNK
                if whole and ticket.level == round_.level and on_the_wire > 0:
                    round_.in_flight += (self._area - ticket.area) / on_the_wire
                    round_.seconds += on_the_wire
                    round_.measured += 1
            if round_.answers >= max(MIN_ROUND_ANSWERS, round_.allowed):
                self._close(round_)
            self._changed()

    def sealed(self, byte_count: int, seconds: float) -> None:
        if byte_count and seconds > 0:
            with self._lock:
                self._seal_rate = _smooth(self._seal_rate, byte_count / seconds)
                self._rewish()
                self._changed()

    def _advance(self) -> float:
        now = self._clock()
        self._area += self._in_flight * (now - self._area_at)
        self._area_at = now
        return now

    def _rewish(self) -> None:
        if self._post_rate and self._seal_rate:
            wish = math.ceil(min(self._seal_rate, ENOUGH_BYTES_PER_SECOND) / self._post_rate)
            self._wish = max(1, min(self.most, wish))

    def _close(self, round_: _Round) -> None:
        """End a round and measure it, if it counts; the next begins at the limit now."""
        counts = round_.full and round_.allowed == self._reach.value
        if counts and round_.measured >= MIN_ROUND_ANSWERS:
            log.debug("a round of %d POSTs allowed: %.1f MB/s", round_.allowed, round_.rate / 1e6)
            self._reach.measured(round_.rate)
        self._changed()
        self._round = _Round(self.limit, len(self.history))

    def _changed(self) -> None:
        if self.limit != self.history[-1]:
            self.history.append(self.limit)


def _smooth(average: float, sample: float) -> float:
    return sample if not average else (average + sample) / 2


class _Arena:
    """The transfer's buffer memory, handed out in file order as a ring: each POST takes
    the next free slice, given back once the POST was answered. The ring wraps at the
    allotment, which follows the POSTs allowed on the wire, within the capacity. The
    block is anonymous ``mmap`` memory: pages cost nothing until a POST first uses them,
    so a small file, or a short path, does not pay for the whole capacity."""

    def __init__(self, capacity: int, allotment: int | None = None):
        self.capacity = capacity
        self.allotment = capacity if allotment is None else min(allotment, capacity)
        self.high_water = 0  # bytes of it ever handed out: what the transfer touched
        self._memory = memoryview(mmap.mmap(-1, capacity))
        self._head = 0
        self._busy: dict[Future[str], tuple[int, int]] = {}

    def allot(self, size: int) -> None:
        """Let the ring reach ``size`` bytes (within the capacity) from the next slice on."""
        self.allotment = min(size, self.capacity)

    def take(self, length: int) -> tuple[int, int] | None:
        """A free slice of ``length`` bytes, or None while POSTs still hold it."""
        start = self._head if self._head + length <= self.allotment else 0
        end = start + length
        if any(
            start < busy_end and busy_start < end for busy_start, busy_end in self._busy.values()
        ):
            return None
        self._head = end
        self.high_water = max(self.high_water, end)
        return start, end

    def view(self, span: tuple[int, int]) -> memoryview:
        return self._memory[span[0] : span[1]]

    def hold(self, answer: Future[str], span: tuple[int, int]) -> None:
        self._busy[answer] = span

    def release(self, answer: Future[str]) -> None:
        del self._busy[answer]


class _Connections:
    """A keep-alive ``requests.Session`` per sender thread, so each POST on the wire has a
    TCP connection of its own; all closed with the transfer."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()


class _InFlight:
    """The POSTs on the wire, answered in any order: each answer frees its slice of the
    arena, and progress is reported (in the caller's thread) for the answered prefix of
    the file. Waiting for an answer because the window or the arena is full is what
    tells the window that the path, not the body or the CPU, holds the upload back."""

    def __init__(self, arena: _Arena, window: _Window, acknowledged: Callable[[int], None]):
        self.arena = arena
        self.window = window
        self._running: set[Future[str]] = set()
        self._order: deque[tuple[PostRange, Future[str]]] = deque()
        self._acknowledged = acknowledged  # the answered prefix grew to this byte
        self.completion = ""  # the reply of the POST that completed the file
        self.peak = 0  # most POSTs on the wire at once

    def buffer(self, length: int) -> tuple[int, int]:
        """A slice of the arena no POST is using, waiting for answers until there is."""
        while (span := self.arena.take(length)) is None:
            self.window.full()
            self._wait()
        return span

    def add(self, post: PostRange, span: tuple[int, int], answer: Future[str]) -> None:
        self.arena.hold(answer, span)
        self._running.add(answer)
        self._order.append((post, answer))
        self.peak = max(self.peak, len(self._running))

    def wait_for_room(self) -> None:
        """Until fewer POSTs are on the wire than the window allows now."""
        while len(self._running) >= max(self.window.limit, 1):
            self.window.full()
            self._wait()

    def drain(self) -> None:
        while self._running:
            self._wait()

    def meanwhile(self, other: Future[None]) -> None:
        """Take answers until ``other`` is done; its result (or its exception)."""
        while not other.done():
            self._wait(other)
        other.result()

    def _wait(self, other: Future[None] | None = None) -> None:
        """Block until a POST (or ``other``) is answered; take every answer there is."""
        done, _ = wait([*self._running, *([other] if other else [])], return_when=FIRST_COMPLETED)
        for answer in done:
            if answer is other:
                continue
            self._running.discard(answer)
            self.arena.release(answer)
            self.completion = answer.result() or self.completion  # raises a failed POST's
        while self._order and self._order[0][1] not in self._running:
            post, _ = self._order.popleft()
            self._acknowledged(post.offset + post.length)


class Uploader:
    """Uploads spool files through a logged-in ``MegaClient``; thread-safe, no state."""

    def __init__(
        self,
        client: MegaClient,
        *,
        max_post_bytes: int = DEFAULT_MAX_POST,
        max_restarts: int = 3,
        connections: int = DEFAULT_CONNECTIONS,
    ):
        self._client = client
        self.connections = max(1, connections)
        self.max_post_bytes = max_post_bytes
        self.max_restarts = max_restarts

    def upload(
        self,
        source: Path,
        on_progress: ProgressCallback | None = None,
        *,
        size: int | None = None,
        wait_for_bytes: WaitForBytes | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> UploadResult:
        """Encrypt and send ``source``; the completion handle and the key for ``p``.

        ``size`` defaults to the file's size now. For a file that is still being written,
        give its final ``size`` and ``wait_for_bytes``, which the uploader calls with the
        end of each POST before reading it. With a ``checkpoint``, the upload is kept
        resumable, and a complete file continues the upload checkpointed there.
        """
        size = source.stat().st_size if size is None else size
        progress = _Progress(on_progress)
        restarts = 0
        resume = None if wait_for_bytes else _Resumable.load(checkpoint, size)
        while True:
            if resume is not None:
                upload = resume
                log.info("resuming a MEGA upload at byte %d of %d", upload.acked, size)
                if checkpoint:
                    checkpoint.resuming(upload.acked)
            else:
                url = self._client.call({"a": "u", "s": size})["p"]
                upload = _Resumable(url, FileKey.generate(), size, 0)
            try:
                completion, macs, stats = self._send(
                    upload, source, progress, wait_for_bytes, checkpoint
                )
                break
            except MegaApiError as exc:
                if exc.code != EEXPIRED or restarts >= self.max_restarts:
                    raise
                restarts += 1
                log.info("MEGA upload URL expired; starting over with a new one")
            except BodySizeChanged as changed:  # at most once: the file is complete now
                log.info("the body is %d bytes, not %d; starting over", changed.size, size)
                size, wait_for_bytes = changed.size, None
            resume = None
        log.info(
            "sent %d bytes to MEGA in %.2f s: up to %d POSTs on the wire, %.1f MiB of buffers",
            stats.sent_bytes,
            stats.seconds,
            stats.posts_on_the_wire,
            stats.buffer_bytes / MAX_CHUNK,
            extra={
                "mega_sent_bytes": stats.sent_bytes,
                "mega_seconds": round(stats.seconds, 3),
                "mega_posts_on_the_wire": stats.posts_on_the_wire,
                "mega_buffer_bytes": stats.buffer_bytes,
                "mega_limits": list(stats.limits),
            },
        )
        key = upload.key
        return UploadResult(completion, node_key(key, meta_mac(key, macs)), size, stats)

    def _send(
        self,
        upload: _Resumable,
        source: Path,
        progress: _Progress,
        wait_for_bytes: WaitForBytes | None,
        checkpoint: Checkpoint | None,
    ) -> tuple[str, list[bytes], TransferStats]:
        """One pass over the file from ``upload.acked``; the completion handle, the
        chunk MACs in order (those of the acknowledged prefix computed again here) and
        what the pass measured.

        Each POST is formed at the size the window allows then (fewer connections, bigger
        POSTs: per-request costs matter on a short path), sealed into a free slice of the
        arena while the others are on the wire, and sent once fewer than the window's
        limit are; a slice is reused only once its POST was answered (after its
        retries). On any failure the POSTs not yet sending are cancelled and those
        sending are waited for: no POST outlives the transfer.
        """
        url, key, size, start = upload.url, upload.key, upload.size, upload.acked
        window = _Window(self.connections)
        # While the body still arrives, the thread receiving it needs a core of its own:
        # sealing on every core then slowed the whole upload down (5% here).
        seal_threads = 1 if wait_for_bytes else SEAL_THREADS
        scratches = [mac_scratch(min(size, MAX_CHUNK)) for _ in range(seal_threads)]
        scratch_bytes = sum(len(scratch) for scratch in scratches)
        arena = _Arena(MAX_BUFFER_BYTES - scratch_bytes, BASE_ARENA_BYTES)

        def acknowledged(prefix: int) -> None:
            if checkpoint:
                checkpoint.save(dataclasses.replace(upload, acked=prefix).dump())
            progress.acknowledged(prefix)

        in_flight = _InFlight(arena, window, acknowledged)
        acknowledged(start)

        def post_limit() -> int:
            """POSTs are cut from the base arena (big ones while few may fly); once the
            window allows more than it holds, the arena grows a POST per POST allowed."""
            allowed = window.limit + 1  # the one being sealed too
            arena.allot(max(BASE_ARENA_BYTES, allowed * MAX_CHUNK))
            return min(self.max_post_bytes, BASE_ARENA_BYTES // allowed)

        macs = _prefix_macs(source, size, key, start, arena, scratches)
        connections = _Connections()
        sender = ThreadPoolExecutor(window.most, thread_name_prefix="mega-post")
        # Waits for a growing file's bytes, so that answers are taken meanwhile.
        body_waiter = ThreadPoolExecutor(1, thread_name_prefix="mega-body")
        began = time.perf_counter()
        try:
            with source.open("rb", buffering=0) as stream:
                stream.seek(start)
                for post in _posts(size, post_limit, start):
                    if wait_for_bytes:
                        end = post.offset + post.length
                        in_flight.meanwhile(body_waiter.submit(wait_for_bytes, end))
                    span = in_flight.buffer(post.length)
                    body = arena.view(span)
                    started = time.perf_counter()
                    _read_into(stream, body)
                    macs += _seal_in_parallel(key, post, body, scratches)
                    window.sealed(post.length, time.perf_counter() - started)
                    in_flight.wait_for_room()
                    target = f"{url}/{post.offset}"
                    ticket = window.sending(post.length)
                    answer = sender.submit(
                        self._client.retry.call,
                        self._post,
                        connections,
                        window,
                        ticket,
                        target,
                        body,
                    )
                    in_flight.add(post, span, answer)
                in_flight.drain()
        finally:
            body_waiter.shutdown(wait=False)  # returns once the body grows or ends
            sender.shutdown(wait=True, cancel_futures=True)
            connections.close()
        if not in_flight.completion:
            raise StorageError("MEGA accepted every byte but did not confirm the upload.")
        stats = TransferStats(
            sent_bytes=size - start,
            seconds=time.perf_counter() - began,
            posts_on_the_wire=in_flight.peak,
            buffer_bytes=arena.high_water + scratch_bytes,
            limits=tuple(window.history),
        )
        return in_flight.completion, macs, stats

    def _post(
        self,
        connections: _Connections,
        window: _Window,
        ticket: _Ticket,
        url: str,
        body: memoryview,
    ) -> str:
        """One attempt at one range; the reply text (empty until the file is complete)."""
        started = time.perf_counter()
        try:
            reply = self._attempt(connections.session(), url, body)
        except Exception as exc:
            if is_transient(exc):
                window.overloaded()
            raise
        window.answered(len(body), time.perf_counter() - started, ticket)
        return reply

    @staticmethod
    def _attempt(session: requests.Session, url: str, body: memoryview) -> str:
        response = session.post(url, data=body, timeout=UPLOAD_TIMEOUT)
        if response.status_code >= 500:
            raise ServerError(response.status_code)
        response.raise_for_status()
        reply = response.text.strip()
        if _ERROR_REPLY.fullmatch(reply):
            raise MegaApiError(int(reply))
        return reply


@functools.cache
def _seal_pool() -> ThreadPoolExecutor:
    """Shared by the uploads of a process, created on first use (after gunicorn forks)."""
    return ThreadPoolExecutor(SEAL_THREADS - 1, thread_name_prefix="mega-seal")


def _seal_in_parallel(
    key: FileKey, post: PostRange, body: memoryview, scratches: list[memoryview]
) -> list[bytes]:
    """``seal`` the POST's chunks in contiguous groups on several cores (OpenSSL
    runs without the GIL); the chunk MACs in file order. The caller's thread seals the first."""
    chunks = post.chunks
    if not chunks:
        return []
    per_group = -(-len(chunks) // len(scratches))
    groups = [chunks[i : i + per_group] for i in range(0, len(chunks), per_group)]

    def seal_group(group: tuple[tuple[int, int], ...], scratch: memoryview) -> list[bytes]:
        start, end = group[0][0] - post.offset, group[-1][0] + group[-1][1] - post.offset
        return seal(key, group[0][0], group, body[start:end], scratch)

    others = [
        _seal_pool().submit(seal_group, group, scratch)
        for group, scratch in zip(groups[1:], scratches[1:], strict=False)
    ]
    macs = seal_group(groups[0], scratches[0])
    for other in others:
        macs += other.result()
    return macs


def _prefix_macs(
    source: Path, size: int, key: FileKey, end: int, arena: _Arena, scratches: list[memoryview]
) -> list[bytes]:
    """The chunk MACs of the file's first ``end`` bytes (what MEGA acknowledged before a
    resume), sealed from the spool file and sent nowhere."""
    macs: list[bytes] = []
    if not end:
        return macs
    with source.open("rb", buffering=0) as stream:
        for post in _posts(size, lambda: arena.allotment, 0, end):
            span = arena.take(post.length)  # no POST holds any of it yet
            assert span is not None
            body = arena.view(span)
            _read_into(stream, body)
            macs += _seal_in_parallel(key, post, body, scratches)
    return macs


def _read_into(stream: BinaryIO, body: memoryview) -> None:
    """Fill ``body`` from the file's current position; the file must not come up short."""
    filled = 0
    while filled < len(body):
        count = stream.readinto(body[filled:])
        if not count:
            raise StorageError("The file changed size while it was being uploaded.")
        filled += count
