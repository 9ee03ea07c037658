"""Paimon's own MEGA uploader (mega.py's ``upload()`` is slow and fragile).

The file is read one POST at a time into a reusable buffer; its MEGA chunks are MACed with
one bulk CBC call each and the whole POST is CTR-encrypted in place with one call, so the
bytes are never copied. Up to ``connections`` POSTs are on the wire at once, each from a
sender thread with a keep-alive connection of its own (a long path to MEGA gives each
connection only a share of the link, which is why MEGA's own clients send several), while
the next POST is read and sealed: with OpenSSL releasing the GIL, crypto and network
overlap. MEGA takes ranges in any order; the chunk MACs are computed in file order as the
POSTs are sealed, and progress is the answered prefix of the file.

Memory is bounded whatever the file's size: ``connections + 1`` buffers of at most
``MAX_BUFFER_BYTES / (connections + 1)`` each (more connections, smaller POSTs). A failed
POST is retried alone with bounded backoff; an answer that says MEGA is overloaded (-3,
-4, -6, -18, -19, 5xx, a timeout or a dropped connection) also halves the POSTs allowed on
the wire, which grow back by one after as many answered POSTs. An expired upload URL
(``-8``) gets a fresh one and the upload starts over.

The file may still be growing: with ``size`` and ``wait_for_bytes`` the uploader sends
each POST as soon as its bytes have arrived (the caller's spool decides when that is).
When ``size`` was a guess that the complete body proves wrong (BodySizeChanged), the
upload starts over at the real size, from the file that is whole by then.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import requests

from paimon.storage.base import (
    BodySizeChanged,
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
#: Buffers of one transfer together, whatever its size and connection count: one
#: connection keeps 8 MiB POSTs (two buffers, as before), 8 connections send 2 MiB POSTs
#: (9 buffers, 18 MiB), which on a path of 3 MB/s per connection and 50 ms per request
#: still spend 0.7 s sending for each 0.05 s waiting.
MAX_BUFFER_BYTES = 20 * MAX_CHUNK
#: POSTs on the wire at once per upload (PAIMON_MEGA_UPLOAD_CONNECTIONS; docs/mega.md).
DEFAULT_CONNECTIONS = 8

#: Threads sealing one POST together (the caller's and pool threads), one per core.
SEAL_THREADS = os.cpu_count() or 1


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
    posts: list[PostRange] = []
    group: list[tuple[int, int]] = []
    for span in chunk_spans(size):
        if group and sum(length for _, length in group) + span[1] > max_post_bytes:
            posts.append(PostRange(group[0][0], tuple(group)))
            group = []
        group.append(span)
    posts.append(PostRange(group[0][0] if group else 0, tuple(group)))
    return posts


@dataclass(frozen=True)
class UploadResult:
    completion_handle: str  # what the last POST returned; ``p`` turns it into a node
    node_key: NodeKey
    size: int


class _Progress:
    """Reports the high-water mark of acknowledged bytes, so a restart never goes back."""

    def __init__(self, callback: ProgressCallback | None):
        self._callback = callback
        self._reported = -1

    def acknowledged(self, total: int) -> None:
        if self._callback and total > self._reported:
            self._reported = total
            self._callback(total)


class _Window:
    """How many POSTs may be on the wire: halved when MEGA says it is overloaded, grown
    back by one after as many answered POSTs, never above ``most``. Thread-safe."""

    def __init__(self, most: int):
        self.most = most
        self.limit = most
        self._answered = 0
        self._lock = threading.Lock()

    def overloaded(self) -> None:
        with self._lock:
            self.limit = max(1, self.limit // 2)
            self._answered = 0

    def answered(self) -> None:
        with self._lock:
            self._answered += 1
            if self.limit < self.most and self._answered >= self.limit:
                self.limit += 1
                self._answered = 0


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
    """The POSTs on the wire, answered in any order: each answer frees its buffer, and
    progress is reported (in the caller's thread) for the answered prefix of the file."""

    def __init__(self, capacity: int, most_buffers: int, progress: _Progress):
        self._capacity = capacity
        self._most_buffers = most_buffers
        self._buffers: list[memoryview] = []  # allocated only when needed
        self._free: list[memoryview] = []
        self._running: dict[Future[str], memoryview] = {}
        self._order: deque[tuple[PostRange, Future[str]]] = deque()
        self._progress = progress
        self.completion = ""  # the reply of the POST that completed the file

    @property
    def running(self) -> int:
        return len(self._running)

    def buffer(self) -> memoryview:
        """A buffer no POST is using, waiting for an answer if all are taken."""
        if not self._free and len(self._buffers) < self._most_buffers:
            self._buffers.append(memoryview(bytearray(self._capacity)))
            self._free.append(self._buffers[-1])
        while not self._free:
            self._wait()
        return self._free.pop()

    def add(self, post: PostRange, buffer: memoryview, answer: Future[str]) -> None:
        self._running[answer] = buffer
        self._order.append((post, answer))

    def wait_below(self, limit: int) -> None:
        while len(self._running) >= max(limit, 1):
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
            self._free.append(self._running.pop(answer))
            self.completion = answer.result() or self.completion  # raises a failed POST's
        while self._order and self._order[0][1] not in self._running:
            post, _ = self._order.popleft()
            self._progress.acknowledged(post.offset + post.length)


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
        # One buffer per connection plus the one being sealed, within MAX_BUFFER_BYTES.
        self.max_post_bytes = min(max_post_bytes, MAX_BUFFER_BYTES // (self.connections + 1))
        self.max_restarts = max_restarts

    def upload(
        self,
        source: Path,
        on_progress: ProgressCallback | None = None,
        *,
        size: int | None = None,
        wait_for_bytes: WaitForBytes | None = None,
    ) -> UploadResult:
        """Encrypt and send ``source``; the completion handle and the key for ``p``.

        ``size`` defaults to the file's size now. For a file that is still being written,
        give its final ``size`` and ``wait_for_bytes``, which the uploader calls with the
        end of each POST before reading it.
        """
        size = source.stat().st_size if size is None else size
        key = FileKey.generate()
        progress = _Progress(on_progress)
        restarts = 0
        while True:
            url = self._client.call({"a": "u", "s": size})["p"]
            try:
                completion, macs = self._send(url, source, size, key, progress, wait_for_bytes)
                break
            except MegaApiError as exc:
                if exc.code != EEXPIRED or restarts >= self.max_restarts:
                    raise
                restarts += 1
                log.info("MEGA upload URL expired; starting over with a new one")
            except BodySizeChanged as changed:  # at most once: the file is complete now
                log.info("the body is %d bytes, not %d; starting over", changed.size, size)
                size, wait_for_bytes = changed.size, None
        return UploadResult(completion, node_key(key, meta_mac(key, macs)), size)

    def _send(
        self,
        url: str,
        source: Path,
        size: int,
        key: FileKey,
        progress: _Progress,
        wait_for_bytes: WaitForBytes | None,
    ) -> tuple[str, list[bytes]]:
        """One pass over the file; the completion handle and the chunk MACs in order.

        Each POST is sealed into a free buffer while the others are on the wire, then sent
        once fewer than the window's limit are; a buffer is reused only once its POST was
        answered (after its retries). On any failure the POSTs not yet sending are
        cancelled and those sending are waited for: no POST outlives the transfer.
        """
        posts = plan_posts(size, self.max_post_bytes)
        capacity = max(post.length for post in posts)
        window = _Window(min(self.connections, len(posts)))
        in_flight = _InFlight(capacity, window.most + 1, progress)
        # While the body still arrives, the thread receiving it needs a core of its own:
        # sealing on every core then slowed the whole upload down (5% here).
        seal_threads = 1 if wait_for_bytes else SEAL_THREADS
        scratches = [mac_scratch(min(capacity, MAX_CHUNK)) for _ in range(seal_threads)]
        macs: list[bytes] = []
        connections = _Connections()
        sender = ThreadPoolExecutor(window.most, thread_name_prefix="mega-post")
        # Waits for a growing file's bytes, so that answers are taken meanwhile.
        body_waiter = ThreadPoolExecutor(1, thread_name_prefix="mega-body")
        try:
            with source.open("rb", buffering=0) as stream:
                for post in posts:
                    if wait_for_bytes:
                        end = post.offset + post.length
                        in_flight.meanwhile(body_waiter.submit(wait_for_bytes, end))
                    buffer = in_flight.buffer()
                    body = buffer[: post.length]
                    _read_into(stream, body)
                    macs += _seal_in_parallel(key, post, body, scratches)
                    in_flight.wait_below(window.limit)
                    target = f"{url}/{post.offset}"
                    answer = sender.submit(
                        self._client.retry.call, self._post, connections, window, target, body
                    )
                    in_flight.add(post, buffer, answer)
                in_flight.drain()
        finally:
            body_waiter.shutdown(wait=False)  # returns once the body grows or ends
            sender.shutdown(wait=True, cancel_futures=True)
            connections.close()
        if not in_flight.completion:
            raise StorageError("MEGA accepted every byte but did not confirm the upload.")
        return in_flight.completion, macs

    def _post(self, connections: _Connections, window: _Window, url: str, body: memoryview) -> str:
        """One attempt at one range; the reply text (empty until the file is complete)."""
        try:
            reply = self._attempt(connections.session(), url, body)
        except Exception as exc:
            if is_transient(exc):
                window.overloaded()
            raise
        window.answered()
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


def _read_into(stream: BinaryIO, body: memoryview) -> None:
    """Fill ``body`` from the file's current position; the file must not come up short."""
    filled = 0
    while filled < len(body):
        count = stream.readinto(body[filled:])
        if not count:
            raise StorageError("The file changed size while it was being uploaded.")
        filled += count
