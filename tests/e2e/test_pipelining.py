"""Pipelining: a PUT of known length, or a form's file part whose length the server
guesses, reaches MEGA while its body is still arriving."""

from __future__ import annotations

import http.client
import json
import os
import re
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.mega import download
from tests.support.megasim import MegaSim
from tests.support.servers import ServerProcess, eventually
from tests.support.uploads import MIB

CHUNK_POST = re.compile(r"POST /ul/[\w-]+/\d+ 200")


def open_upload(
    mega_server: ServerProcess, method: str, target: str, length: int, content_type: str = ""
) -> http.client.HTTPConnection:
    """An upload request whose body the test sends piece by piece, at its own pace."""
    address = urlsplit(mega_server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
    connection.putrequest(method, target)
    if content_type:
        connection.putheader("Content-Type", content_type)
    connection.putheader("Content-Length", str(length))
    connection.endheaders()
    return connection


def form_body(boundary: str, filename: str, content: bytes, closing: bytes) -> bytes:
    """One file part framed as curl frames it, ending with ``--boundary`` and ``closing``."""
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    return head + content + f"\r\n--{boundary}".encode() + closing


def chunk_posts(sim: MegaSim) -> int:
    return len(CHUNK_POST.findall(sim.log()))


def test_transfer_starts_before_the_body_ends(sim: MegaSim, mega_server: ServerProcess) -> None:
    content = os.urandom(20 * MIB + 5)
    posts_before = chunk_posts(sim)
    connection = open_upload(mega_server, "PUT", "/upload/piped.bin", len(content))
    connection.send(content[: 12 * MIB])
    # The body is not complete, yet ciphertext is already arriving at MEGA.
    assert eventually(lambda: chunk_posts(sim) > posts_before), "no POST reached the emulator"
    receiving = requests.get(f"{mega_server.url}/status", timeout=10).json()["jobs"]["receiving"]
    assert receiving == 1
    connection.send(content[12 * MIB :])
    reply = connection.getresponse()
    link = reply.read().decode().strip()
    assert reply.status == 200, link

    assert download(sim, link) == content
    assert list((mega_server.data_dir / "spool").iterdir()) == []


@pytest.mark.parametrize(
    ("closing", "restarts"),
    [(b"--\r\n", 0), (b"--", 1)],
    ids=["as curl ends it", "no final line break: guessed 2 bytes short"],
)
def test_a_form_file_is_transferred_while_it_arrives(
    sim: MegaSim, mega_server: ServerProcess, closing: bytes, restarts: int
) -> None:
    """The size is guessed from the part's start (paimon/web/multipart.py); a wrong guess
    makes the transfer start over once the body is complete, never a cut-off file."""
    boundary = "paimon-test-" + os.urandom(8).hex()
    content = os.urandom(20 * MIB + 7)
    body = form_body(boundary, "form.bin", content, closing)
    posts_before, logs_before = chunk_posts(sim), len(mega_server.logs())
    form = f"multipart/form-data; boundary={boundary}"
    connection = open_upload(mega_server, "POST", "/upload", len(body), form)
    connection.send(body[: 12 * MIB])
    assert eventually(lambda: chunk_posts(sim) > posts_before), "no POST reached the emulator"
    connection.send(body[12 * MIB :])
    reply = connection.getresponse()
    answer = json.loads(reply.read())
    assert reply.status == 200, answer

    assert download(sim, answer["link"]) == content
    assert answer["size"] == len(content)
    assert mega_server.logs()[logs_before:].count("starting over") == restarts


def test_a_client_gone_mid_body_leaves_nothing(sim: MegaSim, mega_server: ServerProcess) -> None:
    posts_before = chunk_posts(sim)
    connection = open_upload(mega_server, "PUT", "/upload/gone.bin", 30 * MIB)
    connection.send(os.urandom(10 * MIB))
    assert eventually(lambda: chunk_posts(sim) > posts_before)
    connection.close()  # 20 MiB short of its Content-Length

    def nothing_left() -> bool:
        jobs = requests.get(f"{mega_server.url}/status", timeout=10).json()["jobs"]
        spool = list((mega_server.data_dir / "spool").iterdir())
        return jobs["receiving"] == jobs["transferring"] == 0 and spool == []

    assert eventually(nothing_left)
    assert requests.get(f"{mega_server.url}/healthz", timeout=10).status_code == 200
    assert "Traceback" not in mega_server.logs()


def test_an_async_form_upload_keeps_its_pipelined_transfer(
    sim: MegaSim, mega_server: ServerProcess
) -> None:
    """202 at once, then the transfer that began during the body finishes in one attempt:
    werkzeug closing the request's files after a complete body must not abort it."""
    boundary = "paimon-test-" + os.urandom(8).hex()
    content = os.urandom(12 * MIB + 3)
    body = form_body(boundary, "async.bin", content, b"--\r\n")
    sim.throttle(8 * MIB)  # the transfer is still running when the 202 goes out
    try:
        reply = requests.post(
            f"{mega_server.url}/upload",
            data=body,
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Prefer": "respond-async",
            },
            timeout=60,
        )
        assert reply.status_code == 202, reply.text
        status_url = reply.json()["status_url"]
        assert eventually(lambda: requests.get(status_url, timeout=10).json()["state"] == "done")
    finally:
        sim.throttle(0)
    job = requests.get(status_url, timeout=10).json()
    assert job["attempts"] == 1, job
    assert download(sim, job["link"]) == content
