"""Paimon's own MEGA uploader (mega.py's ``upload()`` is slow and fragile).

The file is read chunk by chunk; each MEGA chunk is encrypted and MACed with one bulk AES
call each, and whole chunks are grouped into large POSTs sent over the client's keep-alive
session. Memory stays at about one POST (``max_post_bytes``) whatever the file's size. A
failed POST is retried alone with bounded backoff; an expired upload URL (``-8``) gets a
fresh one and the upload starts over.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from paimon.storage.base import ProgressCallback, StorageError
from paimon.storage.mega.client import MegaClient
from paimon.storage.mega.codes import EEXPIRED
from paimon.storage.mega.crypto import (
    MAX_CHUNK,
    FileKey,
    NodeKey,
    chunk_mac,
    chunk_spans,
    encrypt_chunk,
    meta_mac,
    node_key,
)
from paimon.storage.mega.errors import MegaApiError, ServerError

log = logging.getLogger(__name__)

DEFAULT_MAX_POST = 8 * MAX_CHUNK
#: (connect, read) seconds for one POST of ciphertext.
UPLOAD_TIMEOUT = (10.0, 120.0)
_ERROR_REPLY = re.compile(r"-\d+")


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


class _Body:
    """A POST body read from the chunk ciphertexts in turn, so they are never joined.

    ``__len__`` gives requests the Content-Length; short reads are fine for urllib3.
    """

    def __init__(self, pieces: list[bytes]):
        self._pieces = pieces
        self._index = 0
        self._position = 0

    def __len__(self) -> int:
        return sum(map(len, self._pieces))

    def read(self, size: int = -1) -> bytes:
        while self._index < len(self._pieces):
            piece = self._pieces[self._index]
            if self._position < len(piece):
                end = len(piece) if size < 0 else self._position + size
                data = piece[self._position : end]
                self._position += len(data)
                return data
            self._index += 1
            self._position = 0
        return b""


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

    def upload(self, source: Path, on_progress: ProgressCallback | None = None) -> UploadResult:
        """Encrypt and send ``source``; the completion handle and the key for ``p``."""
        size = source.stat().st_size
        key = FileKey.generate()
        progress = _Progress(on_progress)
        restarts = 0
        while True:
            url = self._client.call({"a": "u", "s": size})["p"]
            try:
                completion, macs = self._send(url, source, size, key, progress)
                break
            except MegaApiError as exc:
                if exc.code != EEXPIRED or restarts >= self.max_restarts:
                    raise
                restarts += 1
                log.info("MEGA upload URL expired; starting over with a new one")
        return UploadResult(completion, node_key(key, meta_mac(key, macs)), size)

    def _send(
        self, url: str, source: Path, size: int, key: FileKey, progress: _Progress
    ) -> tuple[str, list[bytes]]:
        """One pass over the file; the completion handle and the chunk MACs in order."""
        macs: list[bytes] = []
        completion = ""
        with source.open("rb") as stream:
            for post in plan_posts(size, self.max_post_bytes):
                pieces = []
                for offset, length in post.chunks:
                    plaintext = stream.read(length)
                    if len(plaintext) != length:
                        raise StorageError("The file changed size while it was being uploaded.")
                    pieces.append(encrypt_chunk(key, offset, plaintext))
                    macs.append(chunk_mac(key, plaintext))
                completion = self._client.retry.call(self._post, f"{url}/{post.offset}", pieces)
                progress.acknowledged(post.offset + post.length)
        if not completion:
            raise StorageError("MEGA accepted every byte but did not confirm the upload.")
        return completion, macs

    def _post(self, url: str, pieces: list[bytes]) -> str:
        """One attempt at one range; the reply text (empty until the file is complete)."""
        # A single piece goes as bytes: requests would send an empty stream chunked.
        body = _Body(pieces) if len(pieces) > 1 else b"".join(pieces)
        response = self._client.session.post(url, data=body, timeout=UPLOAD_TIMEOUT)
        if response.status_code >= 500:
            raise ServerError(response.status_code)
        response.raise_for_status()
        reply = response.text.strip()
        if _ERROR_REPLY.fullmatch(reply):
            raise MegaApiError(int(reply))
        return reply
