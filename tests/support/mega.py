"""Helpers for the tests that store in MEGA (the emulator): settings for its account,
its backend with fast retries, and reading back what it holds for a link; and their
fixtures (a pytest plugin, tests/conftest.py): ``backend``, Paimon's MEGA backend on the
session's emulator; ``stock``, stock mega.py logged in to it, the independent reader;
and ``paimon_links`` (module scope), files of ``PAIMON_SIZES`` a real Paimon server
uploaded to the module's emulator, for the independent clients to download."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import requests
from mega import Mega
from mega.crypto import a32_to_base64

from paimon.bootstrap.wiring import mega_account
from paimon.config import Settings
from paimon.storage.mega import MegaStorage
from paimon.storage.mega.client import MegaClient
from paimon.storage.mega.crypto import decrypt_file, make_link, parse_link
from paimon.storage.mega.errors import RetryPolicy
from paimon.storage.mega.uploader import UploadResult
from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim, stock_mega_client
from tests.support.servers import start_mega_server
from tests.support.uploads import MIB

# Paimon's uploads to download: the empty file (meta-MAC (0, 0) for both, as in MEGA's
# SDK; docs/megasim.md), one byte, one AES block, a block and one byte, a full first
# chunk plus a 10-byte tail, and several chunks with a 3-byte tail.
PAIMON_SIZES = (0, 1, 16, 17, 131_082, 5 * MIB + 3)
#: Real backoff, but in milliseconds.
FAST_RETRY = RetryPolicy(attempts=6, initial_wait=0.005, max_wait=0.02)


def mega_settings(sim: MegaSim, **overrides: object) -> Settings:
    """Settings for the emulator's v2 account, with a data directory (and so a saved MEGA
    session) of their own unless ``data_dir`` is given."""
    values: dict[str, object] = {
        "mega_email": V2_EMAIL,
        "mega_password": V2_PASSWORD,
        "mega_api_url": sim.url,
        "data_dir": tempfile.mkdtemp(prefix="paimon-mega-"),
    }
    return Settings(**(values | overrides))


def download(sim: MegaSim, link: str) -> bytes:
    """Fetch a public link through the emulator (``g``, then GET) and decrypt it.

    ``decrypt_file`` raises MacMismatch unless the content matches the meta-MAC in the
    link's key, so a passing download proves both the bytes and the MACs.
    """
    handle, key = parse_link(link)
    reply = requests.post(f"{sim.url}/cs", json=[{"a": "g", "g": 1, "p": handle}], timeout=10)
    url = reply.json()[0]["g"]
    ciphertext = requests.get(url, timeout=60).content
    return decrypt_file(ciphertext, key)


def legacy_link(link: str) -> str:
    """The ``#!handle!key`` form: mega.py's /file/ parser misses handles with "-"."""
    handle, key = parse_link(link)
    return f"https://mega.nz/#!{handle}!{a32_to_base64(key)}"


def spool(tmp_path: Path, payload: bytes, name: str = "upload.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(payload)
    return path


def fetch_ciphertext(sim: MegaSim, public_handle: str) -> bytes:
    """What MEGA holds for a link: `g` for a download URL, then a plain GET."""
    reply = requests.post(
        f"{sim.url}/cs", json=[{"a": "g", "g": 1, "p": public_handle}], timeout=30
    ).json()
    assert isinstance(reply[0], dict), reply
    return requests.get(reply[0]["g"], timeout=120).content


def publish(client: MegaClient, result: UploadResult) -> str:
    """Turn an upload into a file node and its public link, as the backend does."""
    folder = client.find_or_create_folder("uploader-tests")
    node = client.create_file_node(folder, result.completion_handle, "grown.bin", result.node_key)
    return make_link(client.public_handle(node), result.node_key)


@pytest.fixture
def backend(megasim: MegaSim) -> MegaStorage:
    return MegaStorage(mega_account(mega_settings(megasim)), retry=FAST_RETRY)


@pytest.fixture
def stock(megasim: MegaSim) -> Mega:
    """Stock mega.py, logged in to the emulator: the independent reader."""
    return stock_mega_client(megasim.url).login(V2_EMAIL, V2_PASSWORD)


@pytest.fixture(scope="module")
def paimon_links(
    sim: MegaSim, tmp_path_factory: pytest.TempPathFactory
) -> dict[int, tuple[str, bytes]]:
    """size -> (link, content) of files a real Paimon server uploaded by PUT."""
    server = start_mega_server(tmp_path_factory.mktemp("paimon"), sim)
    links = {}
    try:
        for size in PAIMON_SIZES:
            content = os.urandom(size)
            response = requests.put(
                f"{server.url}/upload/file-{size}.bin", data=content, timeout=120
            )
            assert response.status_code == 200, response.text
            links[size] = (response.text.strip(), content)
    finally:
        server.stop()
    return links
