"""The uploader on its own: a file that is still growing, and one that comes up short."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import BinaryIO

import pytest
from pydantic import SecretStr

from paimon.spool.writer import Spool
from paimon.storage.base import StorageError
from paimon.storage.mega.client import MegaClient
from paimon.storage.mega.crypto import chunk_spans
from paimon.storage.mega.uploader import Uploader
from tests.support.mega import FAST_RETRY, download, publish
from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from tests.support.uploads import MIB

WAIT_SECONDS = 30  # generous bound on every wait; a working uploader needs milliseconds


@pytest.fixture
def client(megasim: MegaSim) -> MegaClient:
    return MegaClient(megasim.url, V2_EMAIL, SecretStr(V2_PASSWORD), retry=FAST_RETRY)


class GrowingFile:
    """A file written in two halves; the second only once MEGA acknowledged bytes of the
    first, which cannot happen unless the uploader sends while the file is growing."""

    def __init__(self, path: Path, payload: bytes):
        self.path = path
        self.payload = payload
        self.written = 0
        self.requested: list[int] = []
        self.acknowledged_early = threading.Event()
        self._grown = threading.Condition()
        path.touch()  # the uploader opens it before the first byte arrives

    def write(self) -> None:
        half = len(self.payload) // 2
        with self.path.open("ab") as out:
            self._append(out, self.payload[:half])
            self.acknowledged_early.wait(WAIT_SECONDS)
            self._append(out, self.payload[half:])

    def _append(self, out: BinaryIO, data: bytes) -> None:
        out.write(data)
        out.flush()
        with self._grown:
            self.written += len(data)
            self._grown.notify_all()

    def wait_for_bytes(self, end: int) -> None:
        self.requested.append(end)
        with self._grown:
            if not self._grown.wait_for(lambda: self.written >= end, WAIT_SECONDS):
                raise StorageError("the upload stopped arriving")

    def on_progress(self, acknowledged: int) -> None:
        if acknowledged and self.written < len(self.payload):
            self.acknowledged_early.set()


def test_a_growing_file_is_sent_as_its_bytes_arrive(
    megasim: MegaSim, client: MegaClient, tmp_path: Path
) -> None:
    size = 5 * MIB + 3
    grown = GrowingFile(tmp_path / "spool", os.urandom(size))
    writer = threading.Thread(target=grown.write)
    writer.start()
    try:
        result = Uploader(client, max_post_bytes=MIB).upload(
            grown.path, grown.on_progress, size=size, wait_for_bytes=grown.wait_for_bytes
        )
    finally:
        writer.join()
    assert grown.acknowledged_early.is_set()
    # One wait per POST, for its end: chunk boundaries, in order, the last the file's end.
    # (How many chunks a POST holds follows the window: not asserted here.)
    assert grown.requested == sorted(set(grown.requested))
    assert set(grown.requested) <= {offset + length for offset, length in chunk_spans(size)}
    assert grown.requested[-1] == size
    assert download(megasim, publish(client, result)) == grown.payload


def test_a_file_shorter_than_its_size_fails(client: MegaClient, tmp_path: Path) -> None:
    path = tmp_path / "short"
    path.write_bytes(os.urandom(MIB))
    with pytest.raises(StorageError, match="changed size"):
        Uploader(client).upload(path, size=2 * MIB)


@pytest.mark.parametrize(
    "guess", [3 * MIB, 3 * MIB + 2, 3 * MIB - 2], ids=["right", "over", "under"]
)
def test_a_guessed_size_is_checked_before_the_upload_completes(
    megasim: MegaSim, client: MegaClient, tmp_path: Path, guess: int
) -> None:
    """A multipart file part's size is a guess (paimon/web/multipart.py): the uploader sends
    as bytes arrive, but completes the object only once the body has ended at the size
    it announced to MEGA, and starts over at the real size otherwise."""
    payload = os.urandom(3 * MIB)
    writer = Spool(tmp_path).new_writer(expected_size=guess)

    def receive() -> None:
        for start in range(0, len(payload), MIB):
            writer.write(memoryview(payload[start : start + MIB]))
        writer.finish()

    receiver = threading.Thread(target=receive)
    receiver.start()
    try:
        result = Uploader(client, max_post_bytes=MIB).upload(
            writer.path, size=guess, wait_for_bytes=writer.wait_for_bytes
        )
    finally:
        receiver.join()
    assert result.size == len(payload)
    assert download(megasim, publish(client, result)) == payload
