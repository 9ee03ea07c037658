"""Fuzzing a live server: Hypothesis at the socket level (random multipart bodies,
header bytes with NUL, invalid UTF-8 and CR/LF, methods and paths) and schemathesis
from docs/openapi.yaml. Not one answer may be a 5xx, and the server must be healthy,
with an empty spool and no traceback in its log, afterwards."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.rawhttp import RawReply, connect, read_reply
from tests.support.servers import REPO_ROOT, ServerProcess, clean_environ, start_server

EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PATHS = ["/upload", "/upload?service=mega", "/status", "/status/x/retry", "/files/x", "/", "/tus"]
# HEAD is left out: its reply announces a length it does not send, which would stall
# this simple reader; gunicorn and Flask answer it like GET.
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "BREW", "G\x00T"]

any_bytes = st.binary(max_size=300)
header_text = st.one_of(
    st.sampled_from([b"", b"a", b"\x00", b"\xff\xfe", b"\r", b"\n", b"\r\n", b"..\\..\\x"]),
    any_bytes,
)
token_chars = st.text(
    alphabet=st.characters(codec="ascii", exclude_categories=("Cc",)), min_size=1, max_size=70
)


@st.composite
def multipart_bodies(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A body and the boundary announced for it (not always the one used)."""
    boundary = draw(token_chars).encode()
    used = draw(st.sampled_from([boundary, boundary, b"other", b""]))
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        headers = b""
        if draw(st.booleans()):
            name = draw(st.sampled_from([b"file", b"other", b""]) | header_text)
            headers += b'Content-Disposition: form-data; name="' + name + b'"'
            if draw(st.booleans()):
                headers += b'; filename="' + draw(header_text | st.just(b"x" * 10_000)) + b'"'
            headers += b"\r\n"
        if draw(st.booleans()):
            headers += b"Content-Type: " + draw(header_text) + b"\r\n"
        if draw(st.booleans()):
            headers += draw(header_text) + b": " + draw(header_text) + b"\r\n"
        parts.append(b"--" + used + b"\r\n" + headers + b"\r\n" + draw(any_bytes) + b"\r\n")
    ending = draw(st.sampled_from([b"--" + used + b"--\r\n", b"", b"--" + used, b"garbage"]))
    return b"".join(parts) + ending, boundary


def send(server: ServerProcess, raw: bytes) -> RawReply:
    """The reply: every request, however broken, gets one (the worker answers what is not
    HTTP); a connection closed without one fails the test."""
    with connect(server.url) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)  # the body ends here, whatever it announced
        try:
            return read_reply(sock)
        except ConnectionError as exc:
            raise AssertionError(f"no reply to {raw[:300]!r}") from exc


def request(method: str, target: str, headers: list[bytes], body: bytes) -> bytes:
    """Bytes as given: NUL, lone surrogates (as UTF-8 bytes) and CR/LF included."""
    line = f"{method} {target} HTTP/1.1\r\n".encode("utf-8", "surrogatepass")
    return line + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(
        tmp_path_factory.mktemp("fuzz"),
        rate_limit_uploads="",
        max_upload_bytes="20000",
        body_timeout_seconds="5",
    )
    yield server
    # Every example ran against this server: it must still serve, and keep no spool file
    # but those of uploads still receiving (tus uploads created by schemathesis, which
    # wait to be resumed): nothing refused or cut off is left behind.
    assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
    receiving = requests.get(f"{server.url}/status", timeout=5).json()["jobs"]["receiving"]
    spool = server.data_dir / "spool"
    assert len(list(spool.iterdir()) if spool.exists() else []) == receiving
    logs = server.logs()
    server.stop()
    assert "Traceback" not in logs and "Error handling request" not in logs


def assert_no_server_error(reply: RawReply) -> None:
    assert reply.status < 500, (reply.status, reply.body)
    assert reply.headers.get("content-type") == "application/json" or reply.status < 400


@EXAMPLES
@given(body=multipart_bodies(), extra=st.lists(header_text, max_size=3), lie=st.integers(-50, 50))
def test_fuzzed_multipart_uploads(
    server: ServerProcess, body: tuple[bytes, bytes], extra: list[bytes], lie: int
) -> None:
    content, boundary = body
    length = max(0, len(content) + lie)
    headers = [
        b"Host: 127.0.0.1",
        b"Content-Type: multipart/form-data; boundary=" + boundary,
        f"Content-Length: {length}".encode(),
        *(b"X-Fuzz: " + value for value in extra),
    ]
    assert_no_server_error(send(server, request("POST", "/upload", headers, content)))


@EXAMPLES
@given(
    method=st.sampled_from(METHODS),
    path=st.sampled_from(PATHS) | st.text(max_size=40).map(lambda p: "/" + p),
    headers=st.lists(st.tuples(header_text, header_text), max_size=6),
    body=any_bytes,
)
def test_fuzzed_requests(
    server: ServerProcess,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
) -> None:
    lines = [b"Host: 127.0.0.1", f"Content-Length: {len(body)}".encode()]
    lines += [name + b": " + value for name, value in headers]
    assert_no_server_error(send(server, request(method, path, lines, body)))


def test_schemathesis_finds_no_server_error(server: ServerProcess, tmp_path) -> None:
    """Valid and invalid requests for every operation in docs/openapi.yaml (the
    conformance checks live in tests/web/test_openapi.py; here only: never a 5xx)."""
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("st")),
            "run",
            str(REPO_ROOT / "docs" / "openapi.yaml"),
            f"--url={server.url}",
            "--checks=not_a_server_error",
            "--mode=all",
            "--phases=examples,coverage,fuzzing",
            "--max-examples=25",
            "--generation-database=none",
            "--seed=1",
            "--request-timeout=10",
            "--max-time=20",  # the coverage phase alone would send thousands more
            "--workers=1",
            "--no-color",
        ],
        cwd=tmp_path,
        env=clean_environ()
        | {"PYTHONPATH": str(REPO_ROOT), "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hooks"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert re.search(r"\d+ generated, \d+ passed", result.stdout), result.stdout[-2000:]
