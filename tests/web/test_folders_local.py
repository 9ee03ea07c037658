"""Folders on local storage (issue 31, item 2): the folder an upload names is kept as
the file's metadata (its sidecar) and the owner's console shows it; a bundle gets no
folder link there (local files have links of their own)."""

from __future__ import annotations

import json

import pytest
import requests

from tests.support.console import sign_in
from tests.support.known_secrets import ADMIN_TOKEN
from tests.support.servers import ServerProcess

LOCAL_SETTINGS = {"admin_tokens": f"owner={ADMIN_TOKEN}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_the_folder_is_kept_as_metadata_and_shown_in_the_console(
    local_server: ServerProcess,
) -> None:
    reply = requests.put(
        f"{local_server.url}/upload/report.pdf?folder=/clients/acme/",
        data=b"%PDF",
        headers={"Accept": "application/json"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    job_id = reply.json()["id"]
    owner_view = requests.get(f"{local_server.url}/api/uploads/{job_id}", headers=ADMIN, timeout=10)
    assert owner_view.json()["folder"] == "clients/acme"
    assert "folder" not in requests.get(f"{local_server.url}/status/{job_id}", timeout=10).json()
    sidecars = [
        json.loads(path.read_text()) for path in (local_server.data_dir / "files").glob("*.json")
    ]
    assert {"filename": "report.pdf", "size": 4, "folder": "clients/acme"} in sidecars
    console = requests.Session()
    sign_in(console, local_server.url, ADMIN_TOKEN)
    page = console.get(f"{local_server.url}/admin/uploads/{job_id}", timeout=10).text
    assert "folder clients/acme" in page


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("folder=a/../b", "bad_folder"),
        ("bundle=zip", "bad_folder"),
        ("bundle=folder", "bad_folder"),
    ],
)
def test_bad_folders_and_bundles_on_put(
    local_server: ServerProcess, query: str, error: str
) -> None:
    reply = requests.put(f"{local_server.url}/upload/x.bin?{query}", data=b"x", timeout=30)
    assert reply.status_code == 400
    assert reply.json()["error"] == error


def test_a_bundle_on_local_storage_has_no_folder_link(local_server: ServerProcess) -> None:
    reply = requests.post(
        f"{local_server.url}/upload?bundle=folder",
        files=[("file", ("a.txt", b"a")), ("file", ("b.txt", b"b"))],
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["folder_link"] is None
    assert body["folder"].startswith("bundle-")
    assert [entry["folder_link"] for entry in body["files"]] == [None, None]
    assert all(entry["link"] for entry in body["files"])


def test_a_bad_folder_in_the_query_is_refused_before_a_multipart_body(
    local_server: ServerProcess,
) -> None:
    reply = requests.post(
        f"{local_server.url}/upload?folder=a//b", files={"file": ("x.bin", b"x")}, timeout=30
    )
    assert reply.status_code == 400
    assert reply.json()["error"] == "bad_folder"
    late = requests.post(
        f"{local_server.url}/upload",
        files=[("file", ("x.bin", b"x")), ("bundle", (None, "folder"))],
        timeout=30,
    )
    assert late.status_code == 400
    assert "Send the form field 'bundle' before the files" in late.json()["message"]
