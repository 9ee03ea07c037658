"""Retention: failed jobs, stalled receives and stray spool files are purged; stored
uploads keep their jobs."""

from __future__ import annotations

import os
import socket
import time
from urllib.parse import urlsplit

import requests

from tests.support.servers import ServerProcess, eventually

RETENTION_HOURS = "0.0005"  # 1.8 s; maintenance runs every third of the 1 s lease


def spool_files(server: ServerProcess) -> list[str]:
    spool = server.data_dir / "spool"
    return sorted(p.name for p in spool.iterdir()) if spool.exists() else []


def test_stray_spool_files_are_purged_and_a_stored_upload_keeps_its_job(server_factory) -> None:
    """Retention forgets spool files (and failed jobs); a stored upload's job stays with
    its file, so its delete link still deletes it after retention has passed."""
    server = server_factory(retention_hours=RETENTION_HOURS, job_lease_seconds="1")
    body = requests.post(
        f"{server.url}/upload", files={"file": ("kept.txt", b"file outlives retention")}, timeout=30
    ).json()
    stray = server.data_dir / "spool" / "up-leftover-from-a-crash"
    stray.write_bytes(b"x")
    status_url = f"{server.url}/status/{body['id']}"

    assert eventually(lambda: not stray.exists(), timeout=20, interval=0.2)  # a purge ran
    time.sleep(float(RETENTION_HOURS) * 3600)  # and the job is older than retention
    assert requests.get(status_url, timeout=5).status_code == 200
    assert requests.get(body["link"], timeout=5).content == b"file outlives retention"
    assert requests.delete(body["delete_url"], timeout=10).status_code == 200
    assert requests.get(body["link"], timeout=5).status_code == 404


def test_a_stalled_receive_is_purged(server_factory) -> None:
    server = server_factory(retention_hours=RETENTION_HOURS, job_lease_seconds="1")
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    boundary = "stall"
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="stalled.bin"\r\n\r\n'
    ).encode()
    first_half = os.urandom(200_000)
    request = (
        f"POST /upload HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(head) + 400_000 + 40}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, port), timeout=30) as client:
        client.sendall(request + head + first_half)  # then the client stalls
        assert eventually(
            lambda: (
                requests.get(f"{server.url}/status", timeout=5).json()["jobs"]["receiving"] == 1
            ),
            timeout=20,
            interval=0.2,
        )
        assert len(spool_files(server)) == 1
        assert eventually(lambda: spool_files(server) == [], timeout=20, interval=0.2)
        counts = requests.get(f"{server.url}/status", timeout=5).json()["jobs"]
        assert counts["receiving"] == 0
    assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
