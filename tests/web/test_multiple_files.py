"""Issue 20, item 2: several files in one POST /upload, on a real gunicorn, through
curl and requests, for local storage and the MEGA emulator.

Each `file` part is its own upload (its own job, link and delete link); the JSON reply
has a `files` list in the request's order, the plain-text reply one link per line; a
single file is answered exactly as before; one file too many is refused as its part
starts and nothing of the request is kept.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import requests

from paimon.storage.mega.crypto import decrypt_file, parse_link
from tests.support.megasim import MegaSim
from tests.support.servers import ServerProcess, eventually

MAX_FILES = 3
JSON = {"Accept": "application/json"}
# The first file is larger than the part of the body that is read to guess its size
# (forms.HEAD_BYTES), so its guess (that it is the body's last part) is wrong: a
# transfer started on it must still store exactly its bytes.
CONTENTS = {"first.bin": os.urandom(3 * 1024 * 1024 + 7), "second.txt": b"two", "third": b""}


LOCAL_SETTINGS = {"max_files_per_request": str(MAX_FILES)}


def post_files(server: ServerProcess, names: list[str], **kwargs: object) -> requests.Response:
    files = [("file", (name, CONTENTS[name])) for name in names]
    return requests.post(f"{server.url}/upload", files=files, timeout=120, **kwargs)  # type: ignore[arg-type]


def spool_is_empty(server: ServerProcess) -> bool:
    return not any((server.data_dir / "spool").glob("*"))


def test_files_are_stored_each_in_order_with_its_own_links(local_server: ServerProcess) -> None:
    reply = post_files(local_server, list(CONTENTS))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["status"], body["message"]) == ("success", "3 of 3 files uploaded")
    assert [entry["filename"] for entry in body["files"]] == list(CONTENTS)
    # One per file, in its entry, and as an X-Url-Delete line of its own, in order.
    entries = body["files"]
    assert reply.raw.headers.getlist("X-Url-Delete") == [e["delete_url"] for e in entries]
    for entry, content in zip(body["files"], CONTENTS.values(), strict=True):
        assert entry["status"] == "success"
        assert entry["size"] == len(content)
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()
        assert requests.get(entry["link"], timeout=30).content == content
    assert len({entry["id"] for entry in body["files"]}) == 3
    # Each file has its own delete link, which deletes it alone.
    first, second, _ = body["files"]
    assert requests.delete(second["delete_url"], timeout=10).status_code == 200
    assert requests.get(second["link"], timeout=10).status_code == 404
    assert requests.get(first["link"], timeout=30).content == CONTENTS["first.bin"]
    assert eventually(lambda: spool_is_empty(local_server))


def test_one_file_is_answered_as_before(local_server: ServerProcess) -> None:
    reply = post_files(local_server, ["second.txt"])
    assert reply.status_code == 200
    assert "files" not in reply.json()
    assert reply.json()["link"] and reply.headers["X-Url-Delete"] == reply.json()["delete_url"]


def test_curl_sends_several_files_and_reads_one_link_per_line(
    local_server: ServerProcess, tmp_path: Path
) -> None:
    paths = []
    for name, content in CONTENTS.items():
        (tmp_path / name).write_bytes(content)
        paths += ["-F", f"file=@{tmp_path / name}"]
    text = subprocess.run(
        ["curl", "-sS", "--fail-with-body", *paths, f"{local_server.url}/upload?format=text"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    links = text.splitlines()
    assert len(links) == 3 and text.endswith("\n")
    for link, content in zip(links, CONTENTS.values(), strict=True):
        assert requests.get(link, timeout=30).content == content
    as_json = subprocess.run(
        ["curl", "-sS", *paths, f"{local_server.url}/upload"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert '"files"' in as_json  # curl's */* gets the JSON, as the earlier server's clients


def test_async_files_answer_202_with_where_to_follow_each(local_server: ServerProcess) -> None:
    reply = post_files(
        local_server, ["first.bin", "second.txt"], headers={"Prefer": "respond-async"}
    )
    assert reply.status_code in (200, 202), reply.text  # 200 only if both were done already
    if reply.status_code == 202:
        assert reply.json()["status"] == "accepted"
        assert reply.headers["Preference-Applied"] == "respond-async"
    for entry, name in zip(reply.json()["files"], ["first.bin", "second.txt"], strict=True):
        assert entry["delete_url"]

        def done(entry: dict = entry) -> bool:
            return requests.get(entry["status_url"], timeout=10).json()["state"] == "done"

        assert eventually(done, timeout=60)
        link = requests.get(entry["status_url"], timeout=10).json()["link"]
        assert requests.get(link, timeout=30).content == CONTENTS[name]


def test_one_file_too_many_is_refused_and_nothing_is_kept(local_server: ServerProcess) -> None:
    stored_before = sorted((local_server.data_dir / "files").iterdir())
    jobs_before = requests.get(f"{local_server.url}/status", timeout=10).json()["jobs"]
    names = [*CONTENTS, "second.txt"]  # four parts
    reply = post_files(local_server, names)
    assert reply.status_code == 400
    assert reply.json()["error"] == "too_many_files"
    assert f"at most {MAX_FILES} files" in reply.json()["message"]
    assert eventually(lambda: spool_is_empty(local_server))
    assert sorted((local_server.data_dir / "files").iterdir()) == stored_before
    assert requests.get(f"{local_server.url}/status", timeout=10).json()["jobs"] == jobs_before


def test_several_files_through_mega(mega_server: ServerProcess, sim: MegaSim) -> None:
    reply = post_files(mega_server, list(CONTENTS), params={"service": "mega"})
    assert reply.status_code == 200, reply.text
    for entry, content in zip(reply.json()["files"], CONTENTS.values(), strict=True):
        assert entry["service"] == "mega"
        handle, key = parse_link(entry["link"])
        download = requests.post(
            f"{sim.url}/cs", json=[{"a": "g", "g": 1, "p": handle}], timeout=30
        ).json()[0]
        ciphertext = requests.get(download["g"], timeout=60).content
        assert decrypt_file(ciphertext, key) == content  # checks the meta-MAC too
