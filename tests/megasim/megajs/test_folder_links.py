"""One link for several files (issue 31, item 4), judged by megajs, an independent
client: a multipart upload with ``bundle=folder`` through a real Paimon server into the
emulator; megajs opens the reply's ``folder_link`` as MEGA's apps open a folder link
(``f`` and ``g`` with ``?n=``), lists the folder and downloads every file, checking its
MAC, byte for byte. Through an upload link too."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import requests

from tests.support.known_secrets import ADMIN_TOKEN
from tests.support.megasim import MegaSim
from tests.support.servers import start_mega_server

FOLDER_LINK = re.compile(r"^https://mega\.nz/folder/[A-Za-z0-9_-]{8}#[A-Za-z0-9_-]{22}$")
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def check_folder_link(
    sim: MegaSim, megajs: Any, tmp_path: Path, body: dict, files: dict[str, bytes]
) -> None:
    link = body["folder_link"]
    assert FOLDER_LINK.match(link), link
    assert [entry["folder_link"] for entry in body["files"]] == [link] * len(files)
    assert [entry["filename"] for entry in body["files"]] == list(files)
    opened = megajs().step("folder_link", gateway=f"{sim.url}/", url=link, dir=str(tmp_path))
    assert opened["name"] == body["folder"].rsplit("/", 1)[-1]
    got = {entry["name"]: Path(entry["path"]).read_bytes() for entry in opened["files"]}
    assert got == files


def test_a_bundle_is_one_folder_link_megajs_opens(
    sim: MegaSim, megajs: Any, tmp_path: Path
) -> None:
    for part in ("server", "bundle", "link"):
        (tmp_path / part).mkdir()
    # Not the empty file: megajs refuses the meta-MAC MEGA's SDK writes for it (test_megajs.py).
    files = {"a.txt": b"first file\n", "b.bin": os.urandom(200_000), "c": b"c"}
    with start_mega_server(tmp_path / "server", sim, admin_tokens=ADMIN_TOKEN) as server:
        reply = requests.post(
            f"{server.url}/upload?folder=shared",
            files=[("bundle", (None, "folder"))] + [("file", (n, c)) for n, c in files.items()],
            timeout=60,
        )
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["folder"].startswith("Paimon/shared/bundle-")
        assert reply.headers["X-Folder-Link"] == body["folder_link"]
        check_folder_link(sim, megajs, tmp_path / "bundle", body, files)

        # The same through an upload link, asked in the query.
        created = requests.post(
            f"{server.url}/api/upload-links",
            json={"folder": "From clients"},
            headers=ADMIN,
            timeout=10,
        )
        assert created.status_code == 201, created.text
        more = {"c.txt": b"through a link", "d.bin": os.urandom(70_000)}
        through = requests.post(
            f"{created.json()['url']}?bundle=folder",
            files=[("file", (n, c)) for n, c in more.items()],
            headers={"Accept": "application/json"},
            timeout=60,
        )
        assert through.status_code == 200, through.text
        assert through.json()["folder"].startswith("Paimon/From clients/bundle-")
        check_folder_link(sim, megajs, tmp_path / "link", through.json(), more)
