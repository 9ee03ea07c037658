"""CORS (PAIMON_CORS_ORIGINS): a page on an allowed origin may upload with fetch, by
multipart, PUT or tus; any other origin, and every origin by default, gets no CORS
headers."""

from __future__ import annotations

import requests

from tests.support.servers import ServerProcess

ALLOWED = "https://app.example.com"
OTHER = "https://evil.example"


def preflight(server: ServerProcess, path: str, origin: str, method: str, headers: str):
    return requests.options(
        f"{server.url}{path}",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
        timeout=10,
    )


def test_an_allowed_origin_may_upload_and_read_the_reply(server_factory) -> None:
    server = server_factory(cors_origins=f"{ALLOWED}, https://other.example.org")
    for path, method, headers in [
        ("/upload", "POST", "authorization, prefer"),
        ("/upload/a.txt", "PUT", "x-auth-token, content-type"),
        ("/tus/", "POST", "tus-resumable, upload-length, upload-metadata"),
        ("/tus/abc", "PATCH", "tus-resumable, upload-offset, content-type"),
    ]:
        reply = preflight(server, path, ALLOWED, method, headers)
        assert reply.status_code < 300, (path, reply.status_code)
        assert reply.headers["Access-Control-Allow-Origin"] == ALLOWED, path
        assert method in reply.headers["Access-Control-Allow-Methods"], path
        allowed = reply.headers["Access-Control-Allow-Headers"].lower()
        assert all(h.strip() in allowed for h in headers.split(",")), (path, allowed)

    upload = requests.post(
        f"{server.url}/upload",
        files={"file": ("a.txt", b"hello")},
        headers={"Origin": ALLOWED, "Prefer": "respond-async"},
        timeout=10,
    )
    assert upload.status_code == 202
    assert upload.headers["Access-Control-Allow-Origin"] == ALLOWED
    exposed = upload.headers["Access-Control-Expose-Headers"].lower()
    assert "location" in exposed and "upload-offset" in exposed


def test_other_origins_get_no_cors_headers(server_factory) -> None:
    server = server_factory(cors_origins=ALLOWED)
    reply = preflight(server, "/upload", OTHER, "POST", "authorization")
    assert "Access-Control-Allow-Origin" not in reply.headers
    upload = requests.post(
        f"{server.url}/upload",
        files={"file": ("a.txt", b"x")},
        headers={"Origin": OTHER},
        timeout=10,
    )
    assert upload.status_code == 200  # served: CORS is for browsers to enforce
    assert "Access-Control-Allow-Origin" not in upload.headers


def test_by_default_no_origin_gets_cors_headers(local_server: ServerProcess) -> None:
    reply = preflight(local_server, "/upload", ALLOWED, "POST", "authorization")
    assert not any(name.startswith("Access-Control-") for name in reply.headers)
