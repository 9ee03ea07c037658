"""File attributes (thumbnails, previews) as MEGA keeps them: opaque ciphertext.

As MEGA's SDK uses them (docs/megasim.md, "File attributes"): ``ufa`` with a size ``s``
answers an upload URL; a POST of the encrypted attribute to it (megajs appends
``/<type>``) answers the attribute's 8-byte handle, raw; ``pfa`` names it in a node's
``fa`` as ``<type>*<handle>``. ``ufa`` with ``fah`` (a handle) and ``r`` answers a read
URL; a POST of one or more 8-byte handles to it answers, for each one known, the handle,
its length (4 bytes, little-endian) and the ciphertext (FileAttributeFetchChannel::parse).
A node's ``fa`` lists its attributes as ``<cluster>:<type>*<handle>``, ``/``-separated.
"""

from __future__ import annotations

import re
import secrets
import threading

from mega.crypto import base64_url_decode, base64_url_encode

from paimon.megasim.errors import ApiError
from paimon.storage.mega.codes import EARGS, ENOENT

#: The storage cluster MEGA names before each attribute in a node's ``fa``.
CLUSTER = 1
#: MEGA's MAX_FILE_ATTRIBUTE_SIZE (include/mega/types.h).
MAX_ATTRIBUTE_BYTES = 16 * 1024 * 1024
HANDLE_BYTES = 8
TOKEN_BYTES = 24
#: ``pfa``'s ``fa``: a type and a base64url handle (the SDK's CommandAttachFA).
ATTACHED = re.compile(r"(?P<type>\d{1,5})\*(?P<handle>[A-Za-z0-9_-]{11})")


class FileAttributes:
    """The attributes' ciphertext by handle, and the URLs that write and read them.
    Thread-safe; attributes are small (16 MiB at most), so they live in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blobs: dict[bytes, bytes] = {}
        self._uploads: dict[str, int] = {}  # upload token -> the size ``ufa`` announced
        self._read_token = base64_url_encode(secrets.token_bytes(TOKEN_BYTES))

    def upload_token(self, size: int) -> str:
        if not 0 < size < MAX_ATTRIBUTE_BYTES:
            raise ApiError(EARGS)
        token = base64_url_encode(secrets.token_bytes(TOKEN_BYTES))
        with self._lock:
            self._uploads[token] = size
        return token

    def read_token(self, encoded_handle: str) -> str:
        """The read URL's token: one for all handles, as a MEGA cluster's URL is."""
        if len(decode_handle(encoded_handle)) != HANDLE_BYTES:
            raise ApiError(EARGS)
        return self._read_token

    def accepts(self, token: str) -> bool:
        with self._lock:
            return token == self._read_token or token in self._uploads

    def post(self, token: str, body: bytes) -> bytes:
        """What a POST to an attribute URL answers: a new handle, or the attributes."""
        if token == self._read_token:
            return self._read(body)
        with self._lock:
            size = self._uploads.pop(token, None)
            if size is None or len(body) != size or len(body) % 16:
                raise ApiError(EARGS)
            handle = secrets.token_bytes(HANDLE_BYTES)
            self._blobs[handle] = body
        return handle

    def _read(self, body: bytes) -> bytes:
        parts = []
        with self._lock:
            for start in range(0, len(body) - len(body) % HANDLE_BYTES, HANDLE_BYTES):
                handle = body[start : start + HANDLE_BYTES]
                if (blob := self._blobs.get(handle)) is not None:
                    parts += [handle, len(blob).to_bytes(4, "little"), blob]
        return b"".join(parts)

    def attach(self, current: str, attached: str) -> str:
        """A node's new ``fa``: ``current`` with ``attached`` (``<type>*<handle>``) in
        place of any attribute of the same type; ENOENT for a handle never uploaded."""
        match = ATTACHED.fullmatch(attached)
        if match is None:
            raise ApiError(EARGS)
        with self._lock:
            if decode_handle(match["handle"]) not in self._blobs:
                raise ApiError(ENOENT)
        kept = {
            item.split(":", 1)[-1].split("*", 1)[0]: item for item in current.split("/") if item
        }
        kept[match["type"]] = f"{CLUSTER}:{attached}"
        return "/".join(kept[kind] for kind in sorted(kept, key=int))

    def forget(self) -> None:
        with self._lock:
            self._blobs.clear()
            self._uploads.clear()

    def count(self) -> int:
        with self._lock:
            return len(self._blobs)


def decode_handle(encoded: str) -> bytes:
    try:
        return base64_url_decode(encoded)
    except ValueError as exc:
        raise ApiError(EARGS) from exc
