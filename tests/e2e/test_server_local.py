"""The local-storage server, end to end through a real gunicorn."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time

import pytest
import requests

from paimon.web.multipart import FORM_MEMORY_BYTES, MAX_FORM_FIELDS
from tests.support.known_secrets import SECOND_TOKEN, TOKEN, WRONG_TOKEN
from tests.support.servers import ServerProcess
from tests.support.uploads import post_file


@pytest.mark.parametrize("size", [0, 1, 3 * 1024 * 1024 + 7])
def test_upload_then_download_identical_bytes(local_server: ServerProcess, size: int) -> None:
    content = os.urandom(size)
    reply = post_file(local_server, content, "report.bin")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["status"] == "success"
    assert body["filename"] == "report.bin"
    assert body["service"] == "local"
    assert body["size"] == size
    assert body["message"]
    assert body["link"].startswith(f"{local_server.url}/files/")

    download = requests.get(body["link"], timeout=60)
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["Content-Disposition"] == "attachment; filename=report.bin"
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_spool_is_empty_after_uploads(local_server: ServerProcess) -> None:
    assert post_file(local_server, b"spool me", "a.txt").status_code == 200
    assert list((local_server.data_dir / "spool").iterdir()) == []


def test_download_supports_ranges(local_server: ServerProcess) -> None:
    content = os.urandom(100_000)
    link = post_file(local_server, content, "r.bin").json()["link"]
    part = requests.get(link, headers={"Range": "bytes=1000-1999"}, timeout=10)
    assert part.status_code == 206
    assert part.content == content[1000:2000]
    assert part.headers["Content-Range"] == "bytes 1000-1999/100000"


def test_unicode_filename_survives(local_server: ServerProcess) -> None:
    body = post_file(local_server, b"%PDF", "résumé 漢字.pdf").json()
    assert body["filename"] == "résumé 漢字.pdf"
    disposition = requests.get(body["link"], timeout=10).headers["Content-Disposition"]
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20%E6%BC%A2%E5%AD%97.pdf" in disposition


def test_path_in_filename_is_not_used_as_path(local_server: ServerProcess) -> None:
    body = post_file(local_server, b"nope", "../../etc/passwd").json()
    assert body["filename"] == "passwd"
    assert not (local_server.data_dir.parent / "etc").exists()


def test_curl_multipart_upload(local_server: ServerProcess, tmp_path) -> None:
    source = tmp_path / "x.bin"
    source.write_bytes(os.urandom(2 * 1024 * 1024 + 5))
    out = subprocess.run(
        ["curl", "-sS", "-F", f"file=@{source}", f"{local_server.url}/upload"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    link = json.loads(out.stdout)["link"]
    fetched = subprocess.run(["curl", "-sS", link], capture_output=True, check=True, timeout=60)
    assert fetched.stdout == source.read_bytes()


def test_health_and_legacy_endpoints(local_server: ServerProcess) -> None:
    assert requests.get(f"{local_server.url}/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(f"{local_server.url}/readyz", timeout=5)
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert set(ready.json()["checks"]) == {"spool", "jobs", "storage"}
    ping = requests.get(f"{local_server.url}/ping", timeout=5)
    assert ping.json() == {"message": "Server running"}
    status = requests.get(f"{local_server.url}/status", timeout=5).json()
    assert status["status"] == "running"
    assert status["storage"] == "local"
    assert status["supported_services"] == ["local"]
    assert status["service"] == "paimon"
    assert status["version"]
    assert status["auth"] == "open"


def test_errors_are_json(local_server: ServerProcess) -> None:
    missing = requests.get(f"{local_server.url}/files/AAAAAAAAAAAAAAAAAAAAAA", timeout=5)
    assert missing.status_code == 404
    assert missing.json()["status"] == "error"
    wrong_method = requests.get(f"{local_server.url}/upload", timeout=5)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "method_not_allowed"
    no_file = requests.post(f"{local_server.url}/upload", files={"other": (None, "x")}, timeout=5)
    assert no_file.status_code == 400
    assert "field named 'file'" in no_file.json()["message"]


def test_unknown_service_names_supported_ones(local_server: ServerProcess) -> None:
    reply = requests.post(
        f"{local_server.url}/upload?service=dropbox",
        files={"file": ("a.txt", b"x")},
        timeout=5,
    )
    assert reply.status_code == 400
    assert reply.json()["supported_services"] == ["local"]
    assert "local" in reply.json()["message"]


def test_readyz_names_the_failing_check(server_factory) -> None:
    server = server_factory(min_free_bytes=str(2**62))
    ready = requests.get(f"{server.url}/readyz", timeout=5)
    assert ready.status_code == 503
    assert ready.json()["failed"] == ["spool"]
    assert "PAIMON_MIN_FREE_BYTES" in ready.json()["checks"]["spool"]["detail"]


def test_upload_too_large_is_413_and_leaves_no_spool(server_factory) -> None:
    server = server_factory(max_upload_bytes="1000")
    reply = requests.post(
        f"{server.url}/upload", files={"file": ("big.bin", os.urandom(5000))}, timeout=10
    )
    assert reply.status_code == 413
    assert reply.json()["error"] == "too_large"
    assert "1,000 bytes" in reply.json()["message"]
    spool = server.data_dir / "spool"
    assert not spool.exists() or list(spool.iterdir()) == []


def test_form_limits_are_413_form_too_large_and_leave_no_spool(local_server) -> None:
    """Fields Paimon ignores are held in memory by werkzeug, so they are bounded: one
    over FORM_MEMORY_BYTES, or more than MAX_FORM_FIELDS fields, is refused with its own
    reason (not "larger than this server accepts"); a large field under it is not."""
    url = f"{local_server.url}/upload"
    file = {"file": ("a.txt", b"kept")}
    fine = requests.post(url, data={"note": "n" * (FORM_MEMORY_BYTES // 2)}, files=file, timeout=30)
    assert fine.status_code == 200
    assert fine.json()["size"] == 4
    too_long = {"note": "n" * (FORM_MEMORY_BYTES + 1)}
    too_many = {f"field{i}": "x" for i in range(MAX_FORM_FIELDS + 1)}
    for fields in (too_long, too_many):
        reply = requests.post(url, data=fields, files=file, timeout=30)
        assert reply.status_code == 413
        assert reply.json()["error"] == "form_too_large"
        assert f"{FORM_MEMORY_BYTES:,} bytes" in reply.json()["message"]
        assert f"more than {MAX_FORM_FIELDS} fields" in reply.json()["message"]
    assert list((local_server.data_dir / "spool").iterdir()) == []


def test_tokens_401_403_and_both_headers(server_factory) -> None:
    server = server_factory(auth_tokens=f"{TOKEN}, {SECOND_TOKEN}")
    url = f"{server.url}/upload"
    files = {"file": ("t.txt", b"tok")}
    missing = requests.post(url, files=files, timeout=5)
    assert missing.status_code == 401
    wrong = requests.post(url, files=files, headers={"X-Auth-Token": WRONG_TOKEN}, timeout=5)
    assert wrong.status_code == 403
    assert WRONG_TOKEN not in wrong.text
    legacy = requests.post(url, files=files, headers={"X-Auth-Token": SECOND_TOKEN}, timeout=5)
    assert legacy.status_code == 200
    bearer = requests.post(
        url, files=files, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    )
    assert bearer.status_code == 200
    assert requests.get(f"{server.url}/status", timeout=5).json()["auth"] == "token"
    assert WRONG_TOKEN not in server.logs()
    assert SECOND_TOKEN not in server.logs()


def test_respond_async_gives_202_and_a_job_to_follow(local_server: ServerProcess) -> None:
    content = os.urandom(70_000)
    reply = requests.post(
        f"{local_server.url}/upload",
        files={"file": ("later.bin", content)},
        headers={"Prefer": "respond-async"},
        timeout=30,
    )
    assert reply.status_code == 202
    job_id = reply.json()["id"]
    assert len(job_id) >= 27  # at least 160 bits, URL-safe base64
    assert reply.headers["Location"] == f"/status/{job_id}"
    view = reply.json()
    for _ in range(100):
        if view["state"] == "done":
            break
        time.sleep(0.1)
        view = requests.get(f"{local_server.url}{reply.headers['Location']}", timeout=5).json()
    assert view["state"] == "done"
    assert view["sha256"] == hashlib.sha256(content).hexdigest()
    assert view["bytes_received"] == view["bytes_stored"] == view["size"] == len(content)
    assert "spool_path" not in view and "lease_owner" not in view
    assert requests.get(view["link"], timeout=5).content == content


def test_sync_reply_carries_the_job(local_server: ServerProcess) -> None:
    body = post_file(local_server, b"job", "j.txt").json()
    view = requests.get(f"{local_server.url}/status/{body['id']}", timeout=5).json()
    assert view["state"] == "done"
    assert view["link"] == body["link"]
    assert view["sha256"] == body["sha256"] == hashlib.sha256(b"job").hexdigest()
    counts = requests.get(f"{local_server.url}/status", timeout=5).json()["jobs"]
    assert set(counts) == {"receiving", "queued", "transferring", "done", "failed"}
    assert counts["done"] >= 1


def test_unknown_job_is_404_and_retry_of_done_job_is_409(local_server: ServerProcess) -> None:
    assert requests.get(f"{local_server.url}/status/nope", timeout=5).status_code == 404
    body = post_file(local_server, b"done", "d.txt").json()
    retry = requests.post(f"{local_server.url}/status/{body['id']}/retry", timeout=5)
    assert retry.status_code == 409
    assert retry.json()["error"] == "not_failed"


def test_low_disk_space_refuses_with_507(server_factory) -> None:
    server = server_factory(min_free_bytes=str(2**62))
    reply = requests.post(f"{server.url}/upload", files={"file": ("a", b"x")}, timeout=10)
    assert reply.status_code == 507
    assert reply.json()["error"] == "server_full"
    assert "disk space" in reply.json()["message"]
