"""Resumable uploads (tus 1.0.0) through a real gunicorn, driven by the independent
Python client tuspy, and by hand where the protocol's edges need raw requests."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from tusclient.client import TusClient

from tests.support.servers import ServerProcess, eventually, start_server
from tests.support.uploads import MIB, TUS, tus_create, tus_patch, wait_for_job


def finished_job(server: ServerProcess, upload_url: str) -> dict:
    """The job behind a tus upload URL (/tus/<job id>), once it is finished."""
    return wait_for_job(server, upload_url.rsplit("/", 1)[1])


def test_options_discovers_the_extensions(local_server: ServerProcess) -> None:
    reply = requests.options(f"{local_server.url}/tus/", timeout=5)
    assert reply.status_code == 204
    assert reply.headers["Tus-Version"] == "1.0.0"
    assert reply.headers["Tus-Resumable"] == "1.0.0"
    extensions = set(reply.headers["Tus-Extension"].split(","))
    assert extensions == {"creation", "creation-with-upload", "termination", "expiration"}
    assert int(reply.headers["Tus-Max-Size"]) == 5 * 1024**3


@pytest.mark.parametrize("chunk_size", [None, MIB])
def test_tuspy_upload_becomes_a_job_with_its_link(
    local_server: ServerProcess, tmp_path: Path, chunk_size: int | None
) -> None:
    """One PATCH (tuspy's default) or many: the same bytes, digest and name arrive."""
    source = tmp_path / "big.iso"
    source.write_bytes(os.urandom(3 * MIB + 5))
    client = TusClient(f"{local_server.url}/tus/")
    options = {"chunk_size": chunk_size} if chunk_size else {}
    uploader = client.uploader(str(source), metadata={"filename": "Ünïcode big.iso"}, **options)
    uploader.upload()
    assert uploader.url.startswith(f"{local_server.url}/tus/")
    view = finished_job(local_server, uploader.url)
    assert view["state"] == "done"
    assert view["filename"] == "Ünïcode big.iso"
    assert view["size"] == view["bytes_received"] == source.stat().st_size
    assert view["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert requests.get(view["link"], timeout=30).content == source.read_bytes()
    head = requests.head(uploader.url, headers=TUS, timeout=5)
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == str(view["size"])
    assert head.headers["Link"] == f'<{view["status_url"]}>; rel="monitor"'


def send_part_then_vanish(server: ServerProcess, upload_url: str, offset: int, part: bytes) -> None:
    """A PATCH whose client dies midway: it announces far more than it sends."""
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(
            f"PATCH {urlsplit(upload_url).path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n"
            f"Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {len(part) * 4}\r\n\r\n".encode()
            + part
        )
        time.sleep(0.3)  # the server has read what was sent before the connection drops


def test_cut_off_upload_resumes_from_the_server_offset_after_a_restart(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """tuspy sends 1 MiB, a PATCH dies midway, the server restarts, tuspy resumes."""
    workdir = tmp_path_factory.mktemp("tus-restart")
    source = tmp_path / "movie.mkv"
    source.write_bytes(os.urandom(4 * MIB + 3))
    content = source.read_bytes()

    server = start_server(workdir)
    try:
        uploader = TusClient(f"{server.url}/tus/").uploader(str(source), chunk_size=MIB)
        uploader.upload(stop_at=MIB)  # tuspy's own first chunk
        send_part_then_vanish(server, uploader.url, MIB, content[MIB : MIB + 700_000])
        kept = MIB + 700_000

        def head() -> requests.Response:
            return requests.head(uploader.url, headers=TUS, timeout=5)

        # The server may still be writing what arrived before the cut.
        eventually(lambda: head().headers.get("Upload-Offset") == str(kept), 5, 0.1)
        reply = head()
        assert reply.status_code == 200
        assert int(reply.headers["Upload-Offset"]) == kept
        assert reply.headers["Cache-Control"] == "no-store"
        job_id = uploader.url.rsplit("/", 1)[1]
        status_url = f"{server.url}/status/{job_id}"
        # The job store learns it once the server sees the cut.
        eventually(
            lambda: requests.get(status_url, timeout=5).json()["bytes_received"] == kept, 5, 0.1
        )
        view = requests.get(status_url, timeout=5).json()
        assert view["state"] == "receiving"
        assert view["bytes_received"] == kept
    finally:
        server.stop()

    server = start_server(workdir)  # the same data dir: a restarted deployment
    try:
        url = f"{server.url}/tus/{job_id}"
        resumed = TusClient(f"{server.url}/tus/").uploader(str(source), url=url, chunk_size=MIB)
        assert resumed.offset == kept  # from the restarted server's HEAD
        resumed.upload()
        view = finished_job(server, url)
        assert view["state"] == "done"
        assert view["sha256"] == hashlib.sha256(content).hexdigest()
        assert requests.get(view["link"], timeout=30).content == content
        assert list((server.data_dir / "spool").iterdir()) == []
    finally:
        server.stop()


def test_creation_with_upload_and_metadata(local_server: ServerProcess) -> None:
    content = os.urandom(100_000)
    name = base64.b64encode(b"report final.pdf").decode()
    reply = requests.post(
        f"{local_server.url}/tus/",
        data=content[:60_000],
        headers={
            **TUS,
            "Upload-Length": str(len(content)),
            "Upload-Metadata": f"filename {name},filetype {base64.b64encode(b'x/y').decode()},flag",
            "Content-Type": "application/offset+octet-stream",
        },
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    assert reply.headers["Upload-Offset"] == "60000"
    url = reply.headers["Location"]
    assert url.startswith(f"{local_server.url}/tus/")
    expires = reply.headers["Upload-Expires"]
    assert expires.endswith(" GMT")
    head = requests.head(url, headers=TUS, timeout=5)
    assert head.headers["Upload-Metadata"] == f"filename {name}"
    assert head.headers["Upload-Length"] == "100000"
    assert tus_patch(url, 60_000, content[60_000:]).headers["Upload-Offset"] == "100000"
    view = finished_job(local_server, url)
    assert view["filename"] == "report final.pdf"
    assert requests.get(view["link"], timeout=10).content == content


def test_empty_upload_completes_at_creation(local_server: ServerProcess) -> None:
    reply = tus_create(local_server, 0)
    assert reply.status_code == 201
    view = finished_job(local_server, reply.headers["Location"])
    assert view["state"] == "done"
    assert requests.get(view["link"], timeout=5).content == b""


def test_termination_deletes_the_upload_and_its_bytes(local_server: ServerProcess) -> None:
    url = tus_create(local_server, 1000).headers["Location"]
    assert tus_patch(url, 0, b"x" * 400).status_code == 204
    spool = local_server.data_dir / "spool"
    assert any(p.stat().st_size == 400 for p in spool.iterdir())
    assert requests.delete(url, headers=TUS, timeout=5).status_code == 204
    assert requests.head(url, headers=TUS, timeout=5).status_code == 404
    assert not any(p.stat().st_size == 400 for p in spool.iterdir())
    job_id = url.rsplit("/", 1)[1]
    assert requests.get(f"{local_server.url}/status/{job_id}", timeout=5).status_code == 404


def test_protocol_errors(local_server: ServerProcess) -> None:
    url = tus_create(local_server, 10).headers["Location"]
    no_version = requests.head(url, timeout=5)
    assert no_version.status_code == 412
    assert no_version.headers["Tus-Version"] == "1.0.0"
    wrong_offset = tus_patch(url, 3, b"abc")
    assert wrong_offset.status_code == 409
    assert wrong_offset.json()["error"] == "offset_mismatch"
    wrong_type = requests.patch(url, data=b"a", headers={**TUS, "Upload-Offset": "0"}, timeout=5)
    assert wrong_type.status_code == 415
    too_long = tus_patch(url, 0, b"x" * 11)
    assert too_long.status_code == 413
    assert too_long.json()["error"] == "exceeds_upload_length"
    assert requests.head(url, headers=TUS, timeout=5).headers["Upload-Offset"] == "0"
    chunked_too_long = tus_patch(url, 0, iter([b"x" * 6, b"y" * 6]))  # no Content-Length
    assert chunked_too_long.status_code == 413
    assert requests.head(url, headers=TUS, timeout=5).headers["Upload-Offset"] == "0"
    assert tus_create(local_server, 5 * 1024**3 + 1).status_code == 413
    assert requests.post(f"{local_server.url}/tus/", headers=TUS, timeout=5).status_code == 400
    bad_metadata = tus_create(local_server, 1, **{"Upload-Metadata": "filename !!!"})
    assert bad_metadata.status_code == 400
    unknown = requests.head(f"{local_server.url}/tus/nope", headers=TUS, timeout=5)
    assert unknown.status_code == 404
    assert unknown.headers["Tus-Resumable"] == "1.0.0"


def test_tokens_guard_creation_patch_and_delete(server_factory) -> None:
    server = server_factory(auth_tokens="tus-token")
    assert tus_create(server, 4).status_code == 401
    bearer = {"Authorization": "Bearer tus-token"}
    url = tus_create(server, 4, **bearer).headers["Location"]
    assert tus_patch(url, 0, b"ab").status_code == 401
    assert tus_patch(url, 0, b"ab", **{"X-Auth-Token": "wrong"}).status_code == 403
    assert requests.delete(url, headers=TUS, timeout=5).status_code == 401
    assert requests.head(url, headers=TUS, timeout=5).status_code == 200  # the id is the key
    uploader = TusClient(f"{server.url}/tus/", headers=bearer).uploader(
        file_stream=io.BytesIO(b"abcd"), url=url
    )
    uploader.upload()
    assert requests.get(finished_job(server, url)["link"], timeout=5).content == b"abcd"


def test_expired_upload_is_gone(server_factory) -> None:
    server = server_factory(tus_idle_hours="0.0005")  # 1.8 s
    reply = tus_create(server, 100)
    url = reply.headers["Location"]
    expires = reply.headers["Upload-Expires"]
    assert requests.head(url, headers=TUS, timeout=5).headers["Upload-Expires"] == expires
    time.sleep(2.5)
    assert requests.head(url, headers=TUS, timeout=5).status_code == 410
    assert requests.head(url, headers=TUS, timeout=5).status_code == 404
    assert list((server.data_dir / "spool").iterdir()) == []
