"""The stock mega.py client, only pointed at the emulator, works end to end against it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests
from mega import Mega
from mega.errors import RequestError

from tests.support.megasim import V1_EMAIL, V2_EMAIL, V2_PASSWORD, MegaSim, stock_mega_client

# Sizes mega.py's own upload/download handle: its loops crash when a last chunk of 1-16
# bytes follows a full chunk, and its download crashes on empty files.
SIZES = (1000, 300_000, 2_000_000)


def login(megasim: MegaSim, account: str) -> Mega:
    client = stock_mega_client(megasim.url)
    if account == "anonymous":
        return client.login()
    email = {"v2": V2_EMAIL, "v1": V1_EMAIL}[account]
    return client.login(email, megasim.accounts[email])


@pytest.mark.parametrize("account", ["v2", "v1", "anonymous"])
def test_full_round_trip(megasim: MegaSim, tmp_path: Path, account: str) -> None:
    client = login(megasim, account)
    user = client.get_user()
    expected_email = {"v2": V2_EMAIL, "v1": V1_EMAIL}.get(account)
    assert user.get("email") == expected_email
    assert client.get_storage_space() == {"used": 0, "total": 50 * 1024**3}
    assert client.get_quota() == 50 * 1024

    folder = client.create_folder("paimon/incoming")["incoming"]
    sources = {}
    for size in SIZES:
        source = tmp_path / f"file-{size}.bin"
        source.write_bytes(os.urandom(size))
        sources[size] = source
        uploaded = client.upload(str(source), dest=folder)
        (node,) = uploaded["f"]
        assert (node["t"], node["s"], node["p"]) == (0, size, folder)

        link = client.get_upload_link(uploaded)
        # A fresh, logged-out client downloads the public link and checks the MAC.
        downloaded = stock_mega_client(megasim.url).download_url(
            link, dest_path=str(tmp_path), dest_filename=f"copy-{size}"
        )
        assert Path(downloaded).read_bytes() == source.read_bytes()

    names = {node["a"]["n"]: node for node in client.get_files().values()}
    assert {f"file-{size}.bin" for size in SIZES} <= names.keys()
    assert names["incoming"]["p"] == names["paimon"]["h"]
    assert client.get_storage_space()["used"] == sum(SIZES)

    handle, _ = client.find("file-1000.bin")
    client.delete(handle)  # mega.py's delete moves the node to the Rubbish Bin
    rubbish_bin = client.get_node_by_type(4)[0]
    assert client.get_files()[handle]["p"] == rubbish_bin
    client.destroy(handle)
    assert handle not in client.get_files()
    assert client.get_storage_space()["used"] == sum(SIZES) - 1000


def test_zero_byte_upload(v2_client: Mega, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    (node,) = v2_client.upload(str(empty))["f"]
    assert node["s"] == 0
    assert v2_client.get_files()[node["h"]]["a"] == {"n": "empty.txt"}
    info = v2_client._api_request({"a": "g", "g": 1, "n": node["h"]})
    response = requests.get(info["g"], timeout=10)
    assert (info["s"], response.status_code, response.content) == (0, 200, b"")


def test_uploads_are_stored_encrypted(megasim: MegaSim, v2_client: Mega, tmp_path: Path) -> None:
    plaintext = b"attack at dawn " * 1000
    source = tmp_path / "secret.txt"
    source.write_bytes(plaintext)
    v2_client.upload(str(source))
    (blob,) = (megasim.data_dir / "megasim-blobs").glob("*.blob")
    stored = blob.read_bytes()
    assert len(stored) == len(plaintext)
    assert b"attack at dawn" not in stored


@pytest.mark.parametrize(("email", "password"), [(V2_EMAIL, "wrong"), (V1_EMAIL, V2_PASSWORD)])
def test_wrong_password_is_enoent(megasim: MegaSim, email: str, password: str) -> None:
    with pytest.raises(RequestError) as raised:
        stock_mega_client(megasim.url).login(email, password)
    assert raised.value.code == -9


def test_unknown_or_ended_session_is_esid(megasim: MegaSim, v2_client: Mega) -> None:
    stale = stock_mega_client(megasim.url)
    stale.sid = "bm90LWEtc2Vzc2lvbg"
    with pytest.raises(RequestError) as raised:
        stale.get_files()
    assert raised.value.code == -15

    assert v2_client.get_user()["email"] == V2_EMAIL
    megasim.reset(sessions=True)
    with pytest.raises(RequestError) as raised:
        v2_client.get_user()
    assert raised.value.code == -15
    assert v2_client.login(V2_EMAIL, V2_PASSWORD).get_user()["email"] == V2_EMAIL


def test_eagain_fault_is_retried_by_mega_py(megasim: MegaSim, v2_client: Mega) -> None:
    megasim.fault("api", -3)
    assert v2_client.get_user()["email"] == V2_EMAIL  # after one retry, 2 s later
    assert megasim.state()["faults"] == []
