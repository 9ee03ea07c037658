"""Folders on the MEGA path (issue 31, item 2): an upload names its folder below
PAIMON_MEGA_FOLDER on every door, nested folders are created on demand, names are
checked, a token has a default folder, and two instances uploading into one new folder
at once make one folder. The tree is read back by stock mega.py, an independent client."""

from __future__ import annotations

import base64
import os
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.support.known_secrets import TOKEN
from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim, stock_mega_client
from tests.support.servers import ServerProcess, start_mega_server
from tests.support.uploads import TUS, put_file, tus_patch

OTHER_TOKEN = "anna=" + "a" * 32


def tree(sim: MegaSim) -> dict[str, list[str]]:
    """Every folder path of the account (below the Cloud Drive) and the names of the
    files in it, as stock mega.py lists and decrypts them."""
    client = stock_mega_client(sim.url).login(V2_EMAIL, V2_PASSWORD)
    nodes = client.get_files()
    root = client.root_id

    def path_of(handle: str) -> str:
        node = nodes[handle]
        if node["p"] == root:
            return node["a"]["n"]
        return f"{path_of(node['p'])}/{node['a']['n']}"

    folders: dict[str, list[str]] = {}
    for handle, node in nodes.items():
        if node["t"] == 1:
            folders.setdefault(path_of(handle), [])
    for node in nodes.values():
        if node["t"] == 0:
            folders.setdefault(path_of(node["p"]), []).append(node["a"]["n"])
    return {path: sorted(names) for path, names in folders.items()}


@pytest.fixture(scope="module")
def server(sim: MegaSim, tmp_path_factory: pytest.TempPathFactory):
    sim.reset(nodes=True)
    tokens = f"{TOKEN},{OTHER_TOKEN}"
    with start_mega_server(
        tmp_path_factory.mktemp("folders"),
        sim,
        auth_tokens=tokens,
        token_folders="anna=From Anna/inbox",
    ) as started:
        yield started


AUTH = {"X-Auth-Token": TOKEN}


def test_every_door_puts_an_upload_into_a_nested_new_folder(
    sim: MegaSim, server: ServerProcess
) -> None:
    put_file(server, "put.bin", os.urandom(1000), **AUTH)
    requests.put(  # ?folder= on PUT
        f"{server.url}/upload/a.bin?folder=clients/acme/2026",
        data=b"a" * 100,
        headers=AUTH,
        timeout=60,
    ).raise_for_status()
    form = requests.post(  # the form field, before the file
        f"{server.url}/upload",
        files=[("folder", (None, "clients/acme/2026")), ("file", ("b.bin", b"b" * 100))],
        headers=AUTH,
        timeout=60,
    )
    assert form.status_code == 200, form.text
    metadata = "filename {},folder {}".format(
        base64.b64encode(b"c.bin").decode(), base64.b64encode(b"/clients/beta/").decode()
    )
    created = requests.post(
        f"{server.url}/tus/",
        headers={**TUS, **AUTH, "Upload-Length": "100", "Upload-Metadata": metadata},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    assert tus_patch(created.headers["Location"], 0, b"c" * 100, **AUTH).status_code == 204
    anna = put_file(server, "anna.bin", b"d", **{"X-Auth-Token": OTHER_TOKEN.split("=")[1]})
    assert anna["status"] == "success"

    found = tree(sim)
    for _ in range(50):  # the tus upload's transfer runs after its last PATCH
        if found.get("Paimon/clients/beta"):
            break
        time.sleep(0.2)
        found = tree(sim)
    assert found["Paimon/clients/acme/2026"] == ["a.bin", "b.bin"]
    assert found["Paimon/clients/beta"] == ["c.bin"]
    assert found["Paimon/From Anna/inbox"] == ["anna.bin"]  # the token's default folder
    assert "put.bin" in found["Paimon"]
    assert list(found).count("Paimon/clients") == 1


@pytest.mark.parametrize(
    "folder",
    ["a/../b", "..", "a//b", "a/\x01b", "a\\b", "x" * 101, "/".join("a" * 9), " / "],
)
def test_a_bad_folder_is_refused_before_the_body(server: ServerProcess, folder: str) -> None:
    reply = requests.put(
        f"{server.url}/upload/x.bin", params={"folder": folder}, data=b"x", headers=AUTH, timeout=30
    )
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"] == "bad_folder"
    assert reply.json()["message"].startswith("'folder': ")


def test_a_folder_field_after_the_files_is_refused(server: ServerProcess) -> None:
    reply = requests.post(
        f"{server.url}/upload",
        files=[("file", ("late.bin", b"l")), ("folder", (None, "late"))],
        headers=AUTH,
        timeout=30,
    )
    assert reply.status_code == 400
    assert "before the files" in reply.json()["message"]


def test_two_instances_uploading_into_one_new_folder_make_one_folder(
    sim: MegaSim, server: ServerProcess, tmp_path: Path
) -> None:
    with start_mega_server(tmp_path, sim, auth_tokens=TOKEN) as other:
        ready = threading.Barrier(2)
        replies: list[requests.Response] = []

        def send(target: ServerProcess, name: str) -> None:
            ready.wait()
            replies.append(
                requests.put(
                    f"{target.url}/upload/{name}?folder=together/new",
                    data=os.urandom(5000),
                    headers=AUTH,
                    timeout=60,
                )
            )

        threads = [
            threading.Thread(target=send, args=(s, n))
            for s, n in ((server, "1.bin"), (other, "2.bin"))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [r.status_code for r in replies] == [200, 200], [r.text for r in replies]
    found = tree(sim)
    assert found["Paimon/together/new"] == ["1.bin", "2.bin"]
    client = stock_mega_client(sim.url).login(V2_EMAIL, V2_PASSWORD)
    names = [n["a"]["n"] for n in client.get_files().values() if n["t"] == 1]
    assert names.count("together") == 1
    assert names.count("new") == 1
