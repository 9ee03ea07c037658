"""Issue 16, item 6: a full disk breaks nothing. The data directory (spool, SQLite job
store, reservations) on a 64 MiB tmpfs with no free-space floor, so the disk really
fills: two tus uploads and a transfer to MEGA are under way when it does. Each refused
request answers 507 and keeps nothing; once space is freed, the transfer finishes and
the tus uploads resume from where they stand, without a hand."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.support.mega import download
from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from tests.support.servers import eventually, start_server
from tests.support.uploads import MIB, TUS, job, send_async

PATCH = {**TUS, "Content-Type": "application/offset+octet-stream"}
TUS_SIZE = 12 * MIB


def offset(url: str) -> int:
    head = requests.head(url, headers=TUS, timeout=10)
    assert head.status_code == 200, head.status_code
    return int(head.headers["Upload-Offset"])


def test_a_full_disk_refuses_with_507_and_everything_finishes_once_freed(
    tmpfs: Callable[[int], Path], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    disk = tmpfs(64)
    with MegaSim.start(tmp_path_factory.mktemp("full-disk-megasim")) as sim:
        server = start_server(
            tmp_path,
            data_dir=str(disk / "data"),
            min_free_bytes="0",  # no floor: the disk fills for real
            # One client holds both tus uploads and the transfer (32 MiB of the ~60 free):
            # past PAIMON_MAX_PENDING_SHARE's default half, which is not what this tests.
            max_pending_share="1",
            mega_api_url=sim.url,
            mega_email=V2_EMAIL,
            mega_password=V2_PASSWORD,
        )
        try:
            warm = requests.post(f"{server.url}/upload", files={"file": ("w", b"w")}, timeout=60)
            assert warm.status_code == 200, warm.text
            uploads = {}
            for _ in range(2):
                created = requests.post(
                    f"{server.url}/tus/",
                    headers={**TUS, "Upload-Length": str(TUS_SIZE)},
                    timeout=10,
                )
                assert created.status_code == 201, created.text
                uploads[created.headers["Location"]] = os.urandom(TUS_SIZE)
            sim.throttle(1_000_000)  # the transfer runs for seconds: under way when it fills
            moving = os.urandom(8 * MIB)
            job_id = send_async(server, "moving.bin", moving)
            assert eventually(lambda: job(server, job_id)["state"] == "transferring", timeout=30)

            filler = disk / "filler"
            subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M"], capture_output=True)
            assert os.statvfs(disk).f_bavail == 0
            for url, content in uploads.items():
                refused = requests.patch(
                    url, data=content, headers={**PATCH, "Upload-Offset": "0"}, timeout=60
                )
                assert refused.status_code == 507, refused.text
                assert refused.json()["error"] == "server_full"
                assert offset(url) == 0  # not locked (423), nothing half-kept
            sim.throttle(0)

            filler.unlink()  # space again: nothing is done by hand from here on
            assert eventually(lambda: job(server, job_id)["state"] == "done", timeout=90)
            assert download(sim, job(server, job_id)["link"]) == moving
            for url, content in uploads.items():
                start = offset(url)
                resumed = requests.patch(
                    url,
                    data=content[start:],
                    headers={**PATCH, "Upload-Offset": str(start)},
                    timeout=60,
                )
                assert resumed.status_code == 204, resumed.text
                status_url = f"{server.url}/status/{url.rstrip('/').rsplit('/', 1)[1]}"
                assert eventually(
                    lambda u=status_url: requests.get(u, timeout=10).json()["state"] == "done",
                    timeout=60,
                )
                stored = requests.get(status_url, timeout=10).json()
                assert stored["sha256"] == hashlib.sha256(content).hexdigest()
                assert download(sim, stored["link"]) == content
        finally:
            server.stop()
