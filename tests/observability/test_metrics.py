"""GET /metrics through a real gunicorn with 2 workers: every worker's counts summed,
whichever answers; the job gauge read from the store; MEGA's errors by code."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from paimon.bootstrap.wiring import create_app, stop
from paimon.config import Settings
from paimon.observability.metrics import JobsCollector
from paimon.observability.multiproc import ENV
from tests.support.logs import request_records
from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from tests.support.servers import ServerProcess
from tests.support.uploads import post_file

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(server: ServerProcess) -> Samples:
    with requests.Session() as fresh:  # a new connection: either worker may answer
        reply = fresh.get(f"{server.url}/metrics", timeout=10)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    return parse(reply.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_for(server: ServerProcess, condition: Callable[[Samples], bool]) -> Samples:
    """Scrape until ``condition`` holds: a request is counted once its last byte is
    sent, which may be just after its client has the reply."""
    deadline = time.monotonic() + 15
    while not condition(samples := scrape(server)):
        assert time.monotonic() < deadline, samples
        time.sleep(0.05)
    return samples


def answering_pids(server: ServerProcess, path: str) -> set[int]:
    return {line["pid"] for line in request_records(server) if line["path"] == path}


# Which worker accepts a new connection is up to the kernel, and one may win many times
# in a row: the loops below go on (within these bounds) until both workers have served.
MIN_UPLOADS, MAX_UPLOADS = 20, 200
MIN_SCRAPES, MAX_SCRAPES = 12, 300


def test_counts_are_summed_over_workers_whichever_answers(server_factory) -> None:
    server = server_factory()
    sizes: list[int] = []
    while len(sizes) < MIN_UPLOADS or len(answering_pids(server, "/upload")) < 2:
        assert len(sizes) < MAX_UPLOADS, "one worker took every upload"
        sizes.append(1000 + 37 * len(sizes))
        assert post_file(server, os.urandom(sizes[-1]), "m.bin").status_code == 200
    uploads = len(sizes)
    assert post_file(server, b"x", "m.bin", query="?service=nope").status_code == 400  # refused
    posts = {"method": "POST", "endpoint": "upload.upload"}
    wait_for(
        server, lambda s: value(s, "paimon_http_requests_total", **posts, status="200") == uploads
    )

    scrapes = 0
    while scrapes < MIN_SCRAPES or len(answering_pids(server, "/metrics")) < 2:
        assert scrapes < MAX_SCRAPES, "one worker answered every scrape"
        samples = scrape(server)
        scrapes += 1
        assert value(samples, "paimon_uploads_total", outcome="done", backend="local") == uploads
        assert value(samples, "paimon_uploads_total", outcome="refused", backend="local") == 1
        assert value(samples, "paimon_received_bytes_total") == sum(sizes)
        assert value(samples, "paimon_stored_bytes_total", backend="local") == sum(sizes)
        count = value(samples, "paimon_transfer_seconds_count", backend="local", outcome="done")
        assert count == uploads
        assert value(samples, "paimon_http_requests_total", **posts, status="400") == 1
        assert value(samples, "paimon_http_request_seconds_count", **posts) == uploads + 1
        assert value(samples, "paimon_jobs", state="done") == uploads
        assert value(samples, "paimon_jobs", state="queued") == 0


def test_an_abandoned_body_is_counted_and_the_gauge_follows_it(server_factory) -> None:
    server = server_factory()
    head = (
        b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n"
        b"Content-Type: multipart/form-data; boundary=cut\r\n\r\n"
        b'--cut\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as client:
        client.sendall(head + b"x" * 100_000)
        wait_for(server, lambda s: value(s, "paimon_jobs", state="receiving") == 1)
    samples = wait_for(
        server, lambda s: value(s, "paimon_uploads_total", outcome="abandoned", backend="local")
    )
    assert value(samples, "paimon_uploads_total", outcome="abandoned", backend="local") == 1
    assert value(samples, "paimon_jobs", state="receiving") == 0
    assert value(samples, "paimon_received_bytes_total") == 0  # the body never completed


def test_mega_api_errors_by_code_and_a_failed_transfer(sim: MegaSim, server_factory) -> None:
    server = server_factory(mega_api_url=sim.url, mega_email=V2_EMAIL, mega_password=V2_PASSWORD)
    assert post_file(server, b"warm", "m.bin").status_code == 200  # logged in, folder made
    sim.fault("api", -3)
    assert post_file(server, b"r" * 200_000, "m.bin").status_code == 200  # after one retry
    used = next(a["used_bytes"] for a in sim.state()["accounts"] if a.get("email") == V2_EMAIL)
    sim.set_quota(V2_EMAIL, used + 1000)
    refused = post_file(server, b"q" * 300_000, "m.bin")
    assert refused.status_code == 507 and refused.json()["error"] == "storage_full"

    for samples in [scrape(server) for _ in range(6)]:
        assert value(samples, "paimon_mega_api_errors_total", code="-3") == 1
        assert value(samples, "paimon_mega_api_errors_total", code="-17") == 1  # "u" over quota
        assert value(samples, "paimon_uploads_total", outcome="done", backend="mega") == 2
        assert value(samples, "paimon_uploads_total", outcome="failed", backend="mega") == 1
        assert value(samples, "paimon_stored_bytes_total", backend="mega") == 200_004
        # Pipelined bodies (PUT, and forms with a guessed size) are counted too.
        assert value(samples, "paimon_received_bytes_total") == 4 + 200_000 + 300_000
        failed = value(samples, "paimon_transfer_seconds_count", backend="mega", outcome="failed")
        assert failed == 1
        assert value(samples, "paimon_jobs", state="done") == 2
        assert value(samples, "paimon_jobs", state="failed") == 1


def test_metrics_work_in_one_process_without_gunicorn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flask's test client, no PROMETHEUS_MULTIPROC_DIR: this process's own values."""
    monkeypatch.delenv(ENV, raising=False)
    app = create_app(Settings(data_dir=tmp_path / "data", storage="local", min_free_bytes=0))
    client = app.test_client()
    try:
        before = parse(client.get("/metrics").text)
        reply = client.post("/upload", data={"file": (io.BytesIO(b"abc"), "a.txt")})
        assert reply.status_code == 200, reply.text
        after = parse(client.get("/metrics").text)
    finally:
        stop(app)
    done = {"outcome": "done", "backend": "local"}
    assert (
        value(after, "paimon_uploads_total", **done)
        == value(before, "paimon_uploads_total", **done) + 1
    )
    assert value(after, "paimon_jobs", state="done") == 1


def test_the_job_gauge_is_left_out_while_the_store_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def unreachable() -> dict:
        raise ConnectionError("redis://:hunter2@db.internal:6379")

    with caplog.at_level(logging.WARNING):
        assert list(JobsCollector(unreachable).collect()) == []
    assert "ConnectionError" in caplog.text
    assert "hunter2" not in caplog.text


def multiproc_dir(server: ServerProcess) -> Path:
    """The metrics directory gunicorn's master chose: the workers hold its files open."""
    master = server.process.pid
    workers = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = Path(os.readlink(fd))
                if target.suffix == ".db" and target.parent.name.startswith("paimon-metrics-"):
                    return target.parent
    raise AssertionError("no worker has a metrics file open")


def test_an_empty_metrics_file_does_not_break_scrapes(server_factory) -> None:
    """prometheus/client_python#1199: a worker killed while creating its metrics file
    leaves it at 0 bytes; every later scrape must still succeed."""
    server = server_factory()
    assert post_file(server, b"counted", "m.bin").status_code == 200
    metrics_dir = multiproc_dir(server)
    (metrics_dir / "counter_999999.db").touch()  # as a worker killed mid-creation leaves it
    for _ in range(4):
        samples = scrape(server)
        assert value(samples, "paimon_uploads_total", outcome="done", backend="local") == 1
