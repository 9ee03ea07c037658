"""A fresh clone, the README's serve command, no settings: what a newcomer does first.

The clone is ``git clone`` of the repository under test, so it holds the committed
HEAD: uncommitted changes in the working tree are not in it (commit first to test
them here). The clone and its .venv are made once per session, the server once per
module (tests/deploy/newcomer/conftest.py). Its data directory is the default, the relative
``data`` in the clone: the setup that once answered every download with 500 while
every test, setting an absolute PAIMON_DATA_DIR, passed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from tests.support.newcomer import curl, json_or_none
from tests.support.servers import ServerProcess

SIZES = {"empty": 0, "one-byte": 1, "few-mb": 3 * 1024 * 1024 + 7}


def upload(door: str, source: Path, url: str) -> str:
    """``source`` sent by the README's curl command for ``door``; the link it answers."""
    if door == "multipart":
        reply = json_or_none(
            curl("-F", f"file=@{source.name}", f"{url}/upload", cwd=source.parent).stdout.decode()
        )
        assert isinstance(reply, dict), reply
        assert reply["status"] == "success", reply
        return reply["link"]
    (link,) = curl("-T", source.name, f"{url}/upload/", cwd=source.parent).stdout.decode().split()
    return link


@pytest.fixture(params=["multipart", "put"])
def door(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_an_upload_downloads_back_identical(
    door: str, size: int, fresh_server: ServerProcess, tmp_path: Path
) -> None:
    """Both documented curl uploads, then the link read by requests and by ``curl -OJ``
    (which names the file from Content-Disposition), byte for byte."""
    sent = tmp_path / "sent"
    sent.mkdir()
    source = sent / f"{door}-{size}.bin"
    source.write_bytes(os.urandom(size))
    link = upload(door, source, fresh_server.url)
    assert link.startswith(f"{fresh_server.url}/files/"), link

    reply = requests.get(link, timeout=30)
    assert reply.status_code == 200, reply.text
    assert reply.content == source.read_bytes()

    received = tmp_path / "received"
    received.mkdir()
    curl("-OJ", link, cwd=received)
    assert [p.name for p in received.iterdir()] == [source.name]
    assert (received / source.name).read_bytes() == source.read_bytes()


def test_a_range_downloads_back_its_bytes(
    door: str, fresh_server: ServerProcess, tmp_path: Path
) -> None:
    """``curl -r 0-99``, as the README's download example says ranges work, and a
    range in the middle by requests: 206 with exactly those bytes."""
    source = tmp_path / "ranged.bin"
    source.write_bytes(os.urandom(SIZES["few-mb"]))
    link = upload(door, source, fresh_server.url)

    assert curl("-r", "0-99", link, cwd=tmp_path).stdout == source.read_bytes()[:100]
    reply = requests.get(link, headers={"Range": "bytes=1000000-1000099"}, timeout=30)
    assert reply.status_code == 206
    assert reply.content == source.read_bytes()[1000000:1000100]
