"""megajs (npm), a second independent MEGA client, against the emulator and against
Paimon's links, beside async-mega-py (tests/megasim/test_megasim_independent_client.py).

megajs asks for upload URLs with ``v: 2``, sends no chunk checksum and reads any
non-empty chunk reply as the upload token: against an emulator that answered ``0`` to
unfinished chunks, every upload of more than one chunk failed (``p`` got ``-9``). It
also follows MEGA's server-to-client channel (``/sc``) after reading the tree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from mega import Mega

from paimon.storage.mega.crypto import decrypt_file, parse_link
from tests.megasim.megajs.client import LOCKED_VERSION, MegaJsError
from tests.support.attributes import read_attributes, wait_for_attributes
from tests.support.mega import PAIMON_SIZES, fetch_ciphertext
from tests.support.megasim import (
    EASINESS,
    MFA_EMAIL,
    V1_EMAIL,
    V2_EMAIL,
    MegaSim,
    root_of,
    stock_mega_client,
)
from tests.support.uploads import MIB

# One byte, one AES block, a block and a byte, a full first chunk and a 10-byte tail,
# and several chunks with a 3-byte tail.
SIZES = (1, 16, 17, 131_082, 5 * MIB + 3)
EVENT_TIMEOUT_MS = 30_000


def login(
    client: Any, emulator: MegaSim, email: str, password: str | None = None, **extra: Any
) -> dict[str, Any]:
    return client.step(
        "login",
        gateway=f"{emulator.url}/",
        email=email,
        password=emulator.accounts[email] if password is None else password,
        keepalive=extra.pop("keepalive", False),
        **extra,
    )


def account_handle(emulator: MegaSim, email: str) -> str:
    (handle,) = [a["handle"] for a in emulator.state()["accounts"] if a["email"] == email]
    return handle


# ---- logins ------------------------------------------------------------------------


@pytest.mark.parametrize("email", [V2_EMAIL, V1_EMAIL])
def test_logs_in_without_a_challenge(megasim: MegaSim, megajs: Any, email: str) -> None:
    logins = megasim.state()["logins"]
    result = login(megajs(), megasim, email)
    assert result == {
        "user": account_handle(megasim, email),
        "root": root_of(megasim, email),
        "version": LOCKED_VERSION,
    }
    state = megasim.state()
    assert state["logins"] == logins + 1
    assert state["hashcash"]["challenges_issued"] == 0


@pytest.mark.parametrize("all_requests", [False, True], ids=["logins", "all"])
def test_logs_in_through_a_hashcash_challenge(
    megasim: MegaSim, megajs: Any, all_requests: bool
) -> None:
    megasim.hashcash(EASINESS, all_requests=all_requests)
    result = login(megajs(), megasim, V2_EMAIL)
    assert result["root"] == root_of(megasim, V2_EMAIL)
    gate = megasim.state()["hashcash"]
    # Every challenge answered once, correctly: us0 and us; in "all" mode ug and f too.
    assert gate["solutions_accepted"] == gate["challenges_issued"]
    assert gate["challenges_issued"] == (4 if all_requests else 2)


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [(V2_EMAIL, "wrong", "ENOENT (-9)"), (MFA_EMAIL, None, "EMFAREQUIRED (-26)")],
    ids=["wrong-password", "2fa-without-code"],
)
def test_refused_logins_carry_megas_codes(
    megasim: MegaSim, megajs: Any, email: str, password: str | None, message: str
) -> None:
    with pytest.raises(MegaJsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        login(megajs(), megasim, email, password)


# ---- its uploads -------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_its_upload_reads_back_with_bytes_and_mac(
    megasim: MegaSim, megajs: Any, tmp_path: Path, size: int
) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(size))
    client = megajs()
    login(client, megasim, V2_EMAIL)
    upload = client.step("upload", path=str(source), name=f"megajs-{size}.bin")
    # megajs encrypted the Buffer it was handed in place: the driver kept a copy, and
    # every comparison below is against the file on disk.
    assert upload["changed_in_place"]
    assert (upload["name"], upload["size"]) == (f"megajs-{size}.bin", size)

    state = megasim.state()
    (node,) = [n for n in state["nodes"] if n["h"] == upload["handle"]]
    public_handle, node_key = parse_link(upload["link"])
    assert (node["t"], node["s"], node["p"]) == (0, size, root_of(megasim, V2_EMAIL))
    assert node["public_handle"] == public_handle
    assert state["pending_uploads"] == []
    if size > MIB:  # several chunks, sent on megajs's default (4) connections at once
        assert state["transfers"]["connections"] >= 2
    # Paimon's decryptor checks the meta-MAC megajs computed.
    assert decrypt_file(fetch_ciphertext(megasim, public_handle), node_key) == source.read_bytes()

    # megajs reads it back, by node and by link, checking the MAC itself.
    by_node, by_link = tmp_path / "by-node", tmp_path / "by-link"
    assert client.step("download", handle=upload["handle"], path=str(by_node)) == {"size": size}
    assert client.step("download_url", url=upload["link"], path=str(by_link)) == {
        "name": f"megajs-{size}.bin",
        "size": size,
    }
    assert by_node.read_bytes() == by_link.read_bytes() == source.read_bytes()


def test_it_checks_the_mac_of_what_it_downloads(
    megasim: MegaSim, megajs: Any, tmp_path: Path
) -> None:
    """One flipped ciphertext bit is refused: the downloads that pass are MAC-checked."""
    source = tmp_path / "tampered.bin"
    source.write_bytes(os.urandom(200_000))
    client = megajs()
    login(client, megasim, V2_EMAIL)
    upload = client.step("upload", path=str(source), name=source.name)
    (blob,) = (megasim.data_dir / "megasim-blobs").glob("*.blob")
    ciphertext = bytearray(blob.read_bytes())
    ciphertext[150_000] ^= 1
    blob.write_bytes(ciphertext)
    with pytest.raises(MegaJsError, match="MAC verification failed"):
        client.step("download_url", url=upload["link"], path=str(tmp_path / "out"))


# ---- Paimon's uploads --------------------------------------------------------------


@pytest.mark.parametrize("size", [size for size in PAIMON_SIZES if size])
def test_reads_back_what_paimon_uploaded(
    sim: MegaSim,
    paimon_links: dict[int, tuple[str, bytes]],
    megajs: Any,
    tmp_path: Path,
    size: int,
) -> None:
    link, content = paimon_links[size]
    out = tmp_path / "out.bin"
    result = megajs().step("download_url", gateway=f"{sim.url}/", url=link, path=str(out))
    assert result == {"name": f"file-{size}.bin", "size": size}  # the name decrypts
    assert out.read_bytes() == content


def test_refuses_the_empty_file_whose_mac_megas_sdk_writes(
    sim: MegaSim,
    paimon_links: dict[int, tuple[str, bytes]],
    megajs: Any,
    tmp_path: Path,
) -> None:
    """The one disagreement: for a 0-byte file MEGA's SDK writes the meta-MAC of no
    chunks, ``(0, 0)`` (``chunkmac_map::macsmac``), and skips the check on download
    (``checkDownloadTransferFinished``: ``!transfer->size ||``). Paimon and async-mega-py
    write ``(0, 0)`` too; megajs 1.3.10 expects the MAC of one empty chunk and refuses
    the file. megajs is wrong (docs/megasim.md); the link itself is sound: its name and
    size decrypt."""
    link, _ = paimon_links[0]
    client = megajs()
    assert client.step("link_info", gateway=f"{sim.url}/", url=link) == {
        "name": "file-0.bin",
        "size": 0,
    }
    with pytest.raises(MegaJsError, match="MAC verification failed"):
        client.step("download_url", gateway=f"{sim.url}/", url=link, path=str(tmp_path / "0"))


# ---- the server-to-client channel --------------------------------------------------


def test_it_follows_changes_made_elsewhere_on_the_sc_channel(
    megasim: MegaSim, megajs: Any, v2_client: Mega, tmp_path: Path
) -> None:
    """megajs, logged in and following ``/sc``, sees another client's upload, new
    folder, move and deletion as the action packets MEGA sends, decrypting names."""
    client = megajs()
    login(client, megasim, V2_EMAIL, keepalive=True)
    root = root_of(megasim, V2_EMAIL)

    source = tmp_path / "elsewhere.txt"
    source.write_bytes(b"uploaded by mega.py")
    uploaded = v2_client.upload(str(source))["f"][0]["h"]
    folder = v2_client.create_folder("moved-here")["moved-here"]
    v2_client.move(uploaded, folder)
    v2_client.destroy(uploaded)

    events = client.step("events", count=4, timeout_ms=EVENT_TIMEOUT_MS)
    assert events == [
        {"event": "add", "handle": uploaded, "name": "elsewhere.txt", "parent": root},
        {"event": "add", "handle": folder, "name": "moved-here", "parent": root},
        {"event": "move", "handle": uploaded, "name": "elsewhere.txt", "parent": folder},
        {"event": "delete", "handle": uploaded, "name": "elsewhere.txt", "parent": folder},
    ]


@pytest.fixture
def v2_client(megasim: MegaSim) -> Mega:
    return stock_mega_client(megasim.url).login(V2_EMAIL, megasim.accounts[V2_EMAIL])


# ---- file attributes ---------------------------------------------------------------


def test_its_thumbnails_read_back_with_the_tests_reader(
    megasim: MegaSim, megajs: Any, tmp_path: Path
) -> None:
    """megajs attaches a thumbnail and a preview (``ufa``, a POST to ``<url>/<type>``,
    ``pfa``); the emulator lists them in the node's ``fa``, and the reader that judges
    Paimon's attributes (tests/support/attributes.py) decrypts them to megajs's bytes:
    an independent client agrees with it on the encryption."""
    source = tmp_path / "photo.bin"
    source.write_bytes(os.urandom(1000))
    client = megajs()
    login(client, megasim, V2_EMAIL)
    upload = client.step("upload", path=str(source), name="photo.jpg")
    images = {0: os.urandom(3000), 1: os.urandom(40_000)}
    for kind, name in ((0, "thumbnail"), (1, "preview")):
        path = tmp_path / name
        path.write_bytes(images[kind])
        assert client.step("attribute", handle=upload["handle"], type=name, path=str(path)) == {}
    read = read_attributes(megasim, upload["link"], wait_for_attributes(megasim, upload["link"]))
    assert {kind: data[: len(images[kind])] for kind, data in read.items()} == images
    assert all(not data[len(images[kind]) :].strip(b"\0") for kind, data in read.items())
