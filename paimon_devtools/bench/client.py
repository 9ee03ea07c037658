"""Uploads to Paimon as curl sends them, timed by the client, one or several at once."""

from __future__ import annotations

import http.client
import json
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

BOUNDARY = "paimon-bench-" + secrets.token_hex(8)
CLIENT_TIMEOUT = 600  # seconds; a hung server must not hang the benchmark
REFUSALS = (429, 503)  # answers that mean "not now": the client may try again later


class Refused(RuntimeError):
    """The server turned the upload away (429 ``too_many_uploads``, 503 ``server_busy``),
    usually before reading its body, as a client that follows Retry-After sees it."""

    def __init__(self, status: int, retry_after: float, reply: object):
        super().__init__(f"upload refused: HTTP {status} {reply}")
        self.status, self.retry_after = status, retry_after


@dataclass(frozen=True)
class Sent:
    """One upload through ``POST /upload``, timed by the client."""

    link: str
    size: int
    seconds: float  # first byte sent to link received
    after_last_byte: float  # last byte handed to the kernel to link received


def send_file(server_url: str, path: Path, door: str = "multipart") -> Sent:
    """An upload as curl would send it, the file sent with sendfile (no client CPU):
    ``multipart`` is ``POST /upload`` (curl -F), ``put`` is ``PUT /upload/<name>``
    (curl -T). The server pipelines both: a PUT says its size, a form's is guessed."""
    size = path.stat().st_size
    if door == "put":
        method, target, content_type = "PUT", f"/upload/{path.name}?format=json", None
        head = tail = b""
    else:
        method, target = "POST", "/upload"
        content_type = f"multipart/form-data; boundary={BOUNDARY}"
        head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    url = urlsplit(server_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=CLIENT_TIMEOUT)
    try:
        start = time.perf_counter()
        connection.putrequest(method, target)
        if content_type:
            connection.putheader("Content-Type", content_type)
        connection.putheader("Content-Length", str(len(head) + size + len(tail)))
        connection.endheaders()
        assert connection.sock is not None
        try:
            connection.sock.sendall(head)
            with path.open("rb") as body:
                connection.sock.sendfile(body)
            connection.sock.sendall(tail)
        except (BrokenPipeError, ConnectionResetError) as cut:
            # The server answered early and closed: its answer may still be readable.
            raise _early_answer(connection) or cut from cut
        last_byte = time.perf_counter()
        response = connection.getresponse()
        reply = json.loads(response.read())
        done = time.perf_counter()
    finally:
        connection.close()
    if response.status in REFUSALS:
        raise Refused(response.status, _retry_after(response), reply)
    if response.status != 200 or "link" not in reply:
        raise RuntimeError(f"upload failed: HTTP {response.status} {reply}")
    return Sent(reply["link"], size, done - start, done - last_byte)


def _retry_after(response: http.client.HTTPResponse) -> float:
    try:
        return float(response.getheader("Retry-After") or 1)
    except ValueError:
        return 1.0


def _early_answer(connection: http.client.HTTPConnection) -> Refused | None:
    """What the server said before it stopped reading the body, if it said a refusal."""
    try:
        response = connection.getresponse()
        reply = json.loads(response.read() or b"null")
    except (OSError, http.client.HTTPException, ValueError):
        return None
    if response.status in REFUSALS:
        return Refused(response.status, _retry_after(response), reply)
    return None


def send_concurrently(server_url: str, path: Path, count: int) -> tuple[float, list[Sent]]:
    """``count`` uploads of ``path`` at once; the wall time until the last link."""
    results: list[Sent | BaseException] = []

    def one() -> None:
        try:
            results.append(send_file(server_url, path))
        except BaseException as exc:  # reported below, in the main thread
            results.append(exc)

    threads = [threading.Thread(target=one) for _ in range(count)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    for result in results:
        if isinstance(result, BaseException):
            raise RuntimeError("a concurrent upload failed") from result
    return wall, results  # type: ignore[return-value]
