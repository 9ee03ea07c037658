"""Paimon's own MEGA uploader (mega.py's ``upload()`` is slow and fragile).

The file is read one POST at a time into a reusable buffer; its MEGA chunks are MACed with
one bulk CBC call each and the whole POST is CTR-encrypted in place with one call, so the
bytes are never copied. While one POST is on the wire (in a sender thread, over the
client's keep-alive session) the next is read and encrypted: with OpenSSL releasing
the GIL, crypto and network overlap. Memory stays at two POSTs (``2 * max_post_bytes``)
whatever the file's size. A failed POST is retried alone with bounded backoff; an expired
upload URL (``-8``) gets a fresh one and the upload starts over.

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
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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
from paimon.storage.mega.errors import MegaApiError, ServerError

log = logging.getLogger(__name__)

DEFAULT_MAX_POST = 8 * MAX_CHUNK
#: (connect, read) seconds for one POST of ciphertext.
UPLOAD_TIMEOUT = (10.0, 120.0)
_ERROR_REPLY = re.compile(r"-\d+")
#: POST buffers per upload: one on the wire while the next is read and encrypted.
BUFFERS = 2

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


class Uploader:
    """Uploads spool files through a logged-in ``MegaClient``; thread-safe, no state."""

    def __init__(
        self,
        client: MegaClient,
        *,
        max_post_bytes: int = DEFAULT_MAX_POST,
        max_restarts: int = 3,
    ):
        self._client = client
        self.max_post_bytes = max_post_bytes
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

        POST ``n`` is sent by the sender thread while POST ``n + 1`` is read and sealed
        into the other buffer; a buffer is reused only once its POST was answered.
        """
        posts = plan_posts(size, self.max_post_bytes)
        capacity = max(post.length for post in posts)
        buffers = [memoryview(bytearray(capacity)) for _ in range(min(BUFFERS, len(posts)))]
        # While the body still arrives, the thread receiving it needs a core of its own:
        # sealing on every core then slowed the whole upload down (5% here).
        seal_threads = 1 if wait_for_bytes else SEAL_THREADS
        scratches = [mac_scratch(min(capacity, MAX_CHUNK)) for _ in range(seal_threads)]
        macs: list[bytes] = []
        completion = ""
        in_flight: deque[tuple[PostRange, Future[str]]] = deque()
        with (
            source.open("rb", buffering=0) as stream,
            ThreadPoolExecutor(1, thread_name_prefix="mega-post") as sender,
        ):
            for number, post in enumerate(posts):
                completion = _collect(in_flight, progress, keep=len(buffers) - 1) or completion
                if wait_for_bytes:
                    wait_for_bytes(post.offset + post.length)
                body = buffers[number % len(buffers)][: post.length]
                _read_into(stream, body)
                macs += _seal_in_parallel(key, post, body, scratches)
                target = f"{url}/{post.offset}"
                in_flight.append(
                    (post, sender.submit(self._client.retry.call, self._post, target, body))
                )
            completion = _collect(in_flight, progress, keep=0) or completion
        if not completion:
            raise StorageError("MEGA accepted every byte but did not confirm the upload.")
        return completion, macs

    def _post(self, url: str, body: memoryview) -> str:
        """One attempt at one range; the reply text (empty until the file is complete)."""
        response = self._client.session.post(url, data=body, timeout=UPLOAD_TIMEOUT)
        if response.status_code >= 500:
            raise ServerError(response.status_code)
        response.raise_for_status()
        reply = response.text.strip()
        if _ERROR_REPLY.fullmatch(reply):
            raise MegaApiError(int(reply))
        return reply


def _collect(
    in_flight: deque[tuple[PostRange, Future[str]]], progress: _Progress, keep: int
) -> str:
    """Report answered POSTs in order, waiting for the oldest while more than ``keep`` are
    in flight; the last reply (the completion handle once the file is complete).

    Progress is reported here, in the caller's thread, never in the sender's.
    """
    reply = ""
    while in_flight and (len(in_flight) > keep or in_flight[0][1].done()):
        post, answer = in_flight.popleft()
        reply = answer.result()
        progress.acknowledged(post.offset + post.length)
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
