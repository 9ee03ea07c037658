"""Log lines: JSON by default, text on request, one per request and per job transition,
never a secret. Through a real gunicorn (2 workers), whose whole output is checked."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from dataclasses import dataclass

import pytest
import requests

from paimon.observability.logs import JsonFormatter, TextFormatter, reference
from paimon.web.requestlog import MAX_ID_LENGTH, request_id
from tests.support.logs import log_records, request_records
from tests.support.servers import ServerProcess, start_server
from tests.support.uploads import post_file

TOKEN = "tok-3f9c1d7e-never-logged"
MEGA_PASSWORD = "mega-pw-8b2e-never-logged"
QUERY_SECRET = "q-secret-5a1c-never-logged"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FIELDS = {"ts", "level", "logger", "message", "pid"}
REQUEST_FIELDS = {"request_id", "method", "path", "status", "bytes", "duration_ms", "remote_addr"}
TEXT_LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+ \[\d+\]: "
)


def logged_path(server: ServerProcess, path_url: str) -> str:
    """The path as the request log shows it: no query, job ids and keys as references."""
    path = path_url.split("?")[0]
    head, _, secret = path.rpartition("/")
    return f"{head}/{server.reference(secret)}" if head in ("/status", "/files") else path


@dataclass
class Exercised:
    """A stopped server (its log complete), the replies it gave, an uploaded job's id."""

    server: ServerProcess
    replies: list[requests.Response]
    job_id: str


@pytest.fixture(scope="module")
def exercised(tmp_path_factory: pytest.TempPathFactory) -> Exercised:
    """A server with a token and a (never used) MEGA password, sent uploads with and
    without a request id, a status query with a query string, a download, a 404 and a
    refused token, then stopped."""
    server = start_server(
        tmp_path_factory.mktemp("json-logs"),
        storage="local",
        auth_tokens=TOKEN,
        mega_email="someone@example.com",
        mega_password=MEGA_PASSWORD,
    )
    replies = [
        post_file(server, b"x" * 1000, "notes.txt", headers=AUTH | {"X-Request-ID": f"client-{i}"})
        for i in range(3)
    ]
    replies += [post_file(server, b"y" * 10, "notes.txt", headers=AUTH) for _ in range(3)]
    job_id = replies[0].json()["id"]
    replies.append(requests.get(f"{server.url}/status/{job_id}?token={QUERY_SECRET}", timeout=10))
    replies.append(requests.get(replies[0].json()["link"], timeout=10))
    replies.append(requests.get(f"{server.url}/nowhere", timeout=10))
    replies.append(
        requests.post(
            f"{server.url}/upload",
            files={"file": ("a", b"a")},
            headers={"Authorization": "Bearer wrong-token"},
            timeout=10,
        )
    )
    server.stop()
    return Exercised(server, replies, job_id)


def test_every_line_is_json_with_the_common_fields(exercised: Exercised) -> None:
    records = log_records(exercised.server)
    assert len(records) > 20
    for record in records:
        assert record.keys() >= FIELDS, record
    loggers = {r["logger"] for r in records}
    assert {"gunicorn.error", "paimon", "paimon.request", "paimon.jobs"} <= loggers
    assert len({r["pid"] for r in records}) >= 3  # the master and both workers


def test_one_request_line_per_request_with_the_echoed_id(exercised: Exercised) -> None:
    replies = exercised.replies
    lines = [r for r in request_records(exercised.server) if r["path"] != "/healthz"]
    assert len(lines) == len(replies)
    by_id = {line["request_id"]: line for line in lines}
    assert len(by_id) == len(lines)
    assert [r.headers["X-Request-ID"] for r in replies[:3]] == ["client-0", "client-1", "client-2"]
    for reply in replies:
        line = by_id[reply.headers["X-Request-ID"]]
        assert line.keys() >= REQUEST_FIELDS
        assert line["status"] == reply.status_code
        assert line["method"] == reply.request.method
        assert line["path"] == logged_path(exercised.server, reply.request.path_url)
        assert line["bytes"] == len(reply.content)
        assert line["remote_addr"] == "127.0.0.1"
        assert line["duration_ms"] >= 0
    assert replies[-1].status_code in (401, 403)  # the refused token is logged too


def test_generated_request_ids_are_unique(exercised: Exercised) -> None:
    generated = [r.headers["X-Request-ID"] for r in exercised.replies[3:]]
    assert all(re.fullmatch(r"[0-9a-f]{32}", rid) for rid in generated)
    assert len(set(generated)) == len(generated)


def test_one_line_per_job_transition(exercised: Exercised) -> None:
    records = [r for r in log_records(exercised.server) if r["logger"] == "paimon.jobs"]
    mine = [r for r in records if r["job_id"] == exercised.server.reference(exercised.job_id)]
    assert [(r["from_state"], r["to_state"]) for r in mine] == [
        (None, "receiving"),
        ("receiving", "queued"),
        ("queued", "transferring"),
        ("transferring", "done"),
    ]
    assert all(r["backend"] == "local" for r in mine)
    assert mine[-1]["size"] == 1000 and mine[-1]["attempts"] == 1
    assert mine[-1]["duration_ms"] >= 0
    assert mine[0]["request_id"] == "client-0"  # logged while the request was served
    done = [r for r in records if r["to_state"] == "done"]
    assert len(done) == 6  # one per successful upload, none for the refused one


def test_no_secret_and_no_query_string_is_logged(exercised: Exercised) -> None:
    text = exercised.server.logs()
    for secret in (TOKEN, MEGA_PASSWORD, QUERY_SECRET, "wrong-token"):
        assert secret not in text


def test_text_format_is_for_people_and_escapes_hostile_input(server_factory) -> None:
    server = server_factory(log_format="text")
    requests.get(f"{server.url}/nowhere%0Aforged%20line", timeout=10)
    assert post_file(server, b"z", "notes.txt", headers=AUTH).status_code == 200
    server.stop()
    lines = server.logs().splitlines()
    assert all(TEXT_LINE.match(line) for line in lines), lines
    assert not any(line.lstrip().startswith("{") for line in lines)
    forged = next(line for line in lines if "forged" in line)
    assert 'path="/nowhere\\nforged line"' in forged
    assert "status=404" in forged and "method=GET" in forged
    transitions = [line for line in lines if " paimon.jobs " in line]
    assert [re.search(r"to_state=(\w+)", line)[1] for line in transitions] == [
        "receiving",
        "queued",
        "transferring",
        "done",
    ]


def test_client_request_ids_are_cleaned_and_capped() -> None:
    assert request_id("abc-123_x.y:z") == "abc-123_x.y:z"
    assert request_id('a b\n"c"<d>') == "abcd"
    assert len(request_id("x" * 500)) == MAX_ID_LENGTH
    for unusable in (None, "", "\n\t <>"):
        assert re.fullmatch(r"[0-9a-f]{32}", request_id(unusable))


def _record(message: str, **extra: object) -> logging.LogRecord:
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("paimon.test", logging.ERROR, __file__, 1, message, None, exc_info)
    record.__dict__.update(extra)
    return record


def test_formatters_keep_extra_fields_and_tracebacks() -> None:
    entry = json.loads(JsonFormatter().format(_record("bad\nthing", job_id="j1", size=None)))
    assert entry["message"] == "bad\nthing"
    # A job id is a bearer secret: the field holds its reference.
    assert (entry["job_id"], entry["size"], entry["level"]) == (reference("j1"), None, "ERROR")
    assert entry["ts"].endswith("Z")
    assert "ValueError: boom" in entry["exc"]

    text = TextFormatter().format(_record("bad\nthing", backend="j1", note="two words"))
    first, *traceback = text.splitlines()
    assert TEXT_LINE.match(first)
    assert first.endswith(
        f'ERROR paimon.test [{os.getpid()}]: bad\\nthing backend=j1 note="two words"'
    )
    assert traceback[-1] == "ValueError: boom"
