"""The job store unavailable: routes that need it answer 503 `store_unavailable` at once
and leave no file behind (before: 500, and a 0-byte spool file per upload).

A real gunicorn on a dedicated redis-server that the test stops.
"""

from __future__ import annotations

import time

import pytest
import requests

from tests.support.redis import RedisServer
from tests.support.uploads import TUS

PROMPT_SECONDS = 5.0


def test_redis_down_is_503_and_keeps_no_file(
    tmp_path_factory: pytest.TempPathFactory, server_factory
) -> None:
    redis = RedisServer.start(tmp_path_factory.mktemp("redis-down"))
    try:
        server = server_factory(redis_url=redis.url)
        kept = requests.post(f"{server.url}/upload", files={"file": ("a.txt", b"a")}, timeout=30)
        assert kept.status_code == 200, kept.text
        job_id = kept.json()["id"]
    finally:
        redis.stop()

    spool = server.data_dir / "spool"
    attempts = {
        "POST /upload": lambda: requests.post(
            f"{server.url}/upload", files={"file": ("b.txt", b"b" * 1000)}, timeout=30
        ),
        "PUT /upload/c.txt": lambda: requests.put(
            f"{server.url}/upload/c.txt", data=b"c" * 1000, timeout=30
        ),
        "GET /status/<id>": lambda: requests.get(f"{server.url}/status/{job_id}", timeout=30),
        "POST /tus/": lambda: requests.post(
            f"{server.url}/tus/", headers={**TUS, "Upload-Length": "10"}, timeout=30
        ),
    }
    for route, attempt in attempts.items():
        started = time.monotonic()
        reply = attempt()
        assert reply.status_code == 503, (route, reply.status_code, reply.text)
        assert reply.json()["error"] == "store_unavailable", route
        assert int(reply.headers["Retry-After"]) > 0, route
        assert time.monotonic() - started < PROMPT_SECONDS, route
        assert list(spool.iterdir()) == [], route
    ready = requests.get(f"{server.url}/readyz", timeout=30)
    assert ready.status_code == 503 and "jobs" in ready.json()["failed"]
