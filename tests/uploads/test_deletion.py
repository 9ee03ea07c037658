"""Issue 20, item 3: delete links on every door and both backends, on a real gunicorn.

Every upload's reply carries ``X-Url-Delete`` (and ``delete_url`` in JSON);
``DELETE`` on it removes the stored object and the job. A forged or reused link gets
404 and deletes nothing; an upload still arriving gets 409.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from paimon.storage.mega.crypto import parse_link
from tests.support.megasim import MegaSim
from tests.support.servers import ServerProcess, eventually, start_server
from tests.support.uploads import TUS

JSON = {"Accept": "application/json"}


def upload_through(server: ServerProcess, door: str, content: bytes) -> tuple[str, str, str]:
    """(link, delete URL from the header, job id) of one upload through ``door``."""
    if door == "put":
        reply = requests.put(f"{server.url}/upload/d.bin", data=content, timeout=60)
        assert reply.status_code == 200, reply.text
        link = reply.text.strip()  # curl -T's plain reply: the link, as transfer.sh
        job_id = urlsplit(reply.headers["X-Url-Delete"]).path.split("/")[2]
    else:
        reply = requests.post(
            f"{server.url}/upload", files={"file": ("d.bin", content)}, headers=JSON, timeout=60
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["delete_url"] == reply.headers["X-Url-Delete"]
        link, job_id = reply.json()["link"], reply.json()["id"]
    return link, reply.headers["X-Url-Delete"], job_id


@pytest.mark.parametrize("door", ["multipart", "put"])
def test_local_delete_removes_the_file_and_the_job(local_server: ServerProcess, door: str) -> None:
    content = os.urandom(50_000)
    link, delete_url, job_id = upload_through(local_server, door, content)
    assert requests.get(delete_url, headers=JSON, timeout=10).json()["filename"] == "d.bin"
    assert requests.get(link, timeout=10).content == content  # GET deleted nothing

    forged = delete_url[:-4] + ("AAAA" if not delete_url.endswith("AAAA") else "BBBB")
    refused = requests.delete(forged, timeout=10)
    assert refused.status_code == 404
    assert refused.json()["error"] == "not_found"
    assert requests.get(link, timeout=10).content == content

    deleted = requests.delete(delete_url, timeout=10)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["status"] == "deleted"
    assert requests.get(link, timeout=10).status_code == 404
    assert requests.get(f"{local_server.url}/status/{job_id}", timeout=10).status_code == 404
    assert not list(
        (local_server.data_dir / "files").glob(f"{urlsplit(link).path.split('/')[-1]}*")
    )
    reused = requests.delete(delete_url, timeout=10)
    assert (reused.status_code, reused.json()["error"]) == (404, "not_found")


def test_mega_delete_removes_the_node(mega_server: ServerProcess, sim: MegaSim) -> None:
    content = os.urandom(300_000)
    link, delete_url, _ = upload_through(mega_server, "multipart", content)
    handle, _ = parse_link(link)

    def download_url() -> object:
        reply = requests.post(f"{sim.url}/cs", json=[{"a": "g", "g": 1, "p": handle}], timeout=30)
        return reply.json()[0]

    assert isinstance(download_url(), dict)  # the emulator serves the link
    deleted = requests.delete(delete_url, timeout=60)
    assert deleted.status_code == 200, deleted.text
    assert download_url() == -9  # ENOENT: MEGA's node is gone with it
    assert requests.delete(delete_url, timeout=10).status_code == 404


def test_a_tus_upload_is_deleted_once_complete_not_while_arriving(
    local_server: ServerProcess,
) -> None:
    created = requests.post(
        f"{local_server.url}/tus/", headers={**TUS, "Upload-Length": "5"}, timeout=10
    )
    assert created.status_code == 201, created.text
    delete_url = created.headers["X-Url-Delete"]
    busy = requests.delete(delete_url, timeout=10)
    assert (busy.status_code, busy.json()["error"]) == (409, "upload_in_progress")
    patched = requests.patch(
        created.headers["Location"],
        data=b"hello",
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        timeout=30,
    )
    assert patched.status_code == 204, patched.text
    status_url = f"{local_server.url}/status/{urlsplit(delete_url).path.split('/')[2]}"
    assert eventually(
        lambda: requests.get(status_url, timeout=10).json()["state"] == "done", timeout=30
    )
    assert requests.delete(delete_url, timeout=10).status_code == 200
    assert requests.get(status_url, timeout=10).status_code == 404


def test_a_plain_form_upload_shows_its_delete_link_once(local_server: ServerProcess) -> None:
    """The browser is redirected to its status page with the reference of its handed-off
    delete link (never the token); the page shows the link the first time; the same
    page without the reference, or with a wrong one, does not."""
    reply = requests.post(
        f"{local_server.url}/upload",
        files={"file": ("form.txt", b"from a form")},
        headers={"Accept": "text/html"},
        allow_redirects=False,
        timeout=30,
    )
    assert reply.status_code == 303
    bare = reply.headers["Location"].split("?")[0]
    assert (
        "delete_url"
        not in requests.get(f"{local_server.url}{bare}", headers=JSON, timeout=10).json()
    )
    wrong = requests.get(f"{local_server.url}{bare}?handoff=nope", headers=JSON, timeout=10).json()
    assert "delete_url" not in wrong
    page = requests.get(f"{local_server.url}{reply.headers['Location']}", headers=JSON, timeout=10)
    delete_url = page.json()["delete_url"]
    confirm = requests.get(delete_url, headers={"Accept": "text/html"}, timeout=10)
    assert '<form method="post">' in confirm.text  # a button, no JavaScript needed
    done = requests.post(delete_url, headers={"Accept": "text/html"}, timeout=10)
    assert done.status_code == 200
    assert 'id="deleted"' in done.text


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with start_server(
        tmp_path_factory.mktemp("delete-tokens"), auth_tokens="alice-token,bob-token"
    ) as server:
        yield server


def test_an_upload_token_deletes_what_was_uploaded_with_it(tokens: ServerProcess) -> None:
    alice, bob = ({"Authorization": f"Bearer {t}"} for t in ("alice-token", "bob-token"))
    reply = requests.put(
        f"{tokens.url}/upload/mine.bin", data=b"alice's", headers={**alice, **JSON}, timeout=30
    )
    assert reply.status_code == 200, reply.text
    job_id, link = reply.json()["id"], reply.json()["link"]
    status_url = f"{tokens.url}/status/{job_id}"
    assert requests.delete(status_url, timeout=10).status_code == 401
    other = requests.delete(status_url, headers=bob, timeout=10)
    assert (other.status_code, other.json()["error"]) == (404, "not_found")
    assert requests.get(link, timeout=10).content == b"alice's"
    deleted = requests.delete(status_url, headers=alice, timeout=10)
    assert (deleted.status_code, deleted.json()["status"]) == (200, "deleted")
    assert requests.get(link, timeout=10).status_code == 404


def test_without_tokens_deleting_by_id_is_refused(local_server: ServerProcess) -> None:
    link, _, job_id = upload_through(local_server, "put", b"open server")
    refused = requests.delete(f"{local_server.url}/status/{job_id}", timeout=10)
    assert (refused.status_code, refused.json()["error"]) == (403, "delete_link_required")
    assert requests.get(link, timeout=10).content == b"open server"
