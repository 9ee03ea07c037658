"""Requests written byte by byte on a socket, for what HTTP libraries refuse to send:
NUL bytes, invalid UTF-8, lying Content-Length, dripping bodies."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class RawReply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def connect(url: str, timeout: float = 10) -> socket.socket:
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1"  # tests talk to local servers only
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout)


def read_reply(sock: socket.socket) -> RawReply:
    """One response, framed by Content-Length (every Paimon and worker reply has one)."""
    return read_replies(sock, 1)[0]


def read_replies(sock: socket.socket, count: int) -> list[RawReply]:
    """``count`` responses in a row on one connection (pipelined requests)."""
    replies = []
    with sock.makefile("rb") as stream:
        for _ in range(count):
            status_line = stream.readline()
            if not status_line:
                raise ConnectionError("connection closed before a reply")
            headers = {}
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = stream.read(int(headers.get("content-length", "0")))
            replies.append(RawReply(int(status_line.split()[1]), headers, body))
    return replies


def exchange(url: str, raw: bytes, *, half_close: bool = False, timeout: float = 10) -> RawReply:
    """Send ``raw`` as is on a fresh connection and read the reply."""
    with connect(url, timeout) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return read_reply(sock)


def request_bytes(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    """A well-formed HTTP/1.1 request (Content-Length from the body unless given)."""
    fields = {"Host": "127.0.0.1", "Content-Length": str(len(body)), **(headers or {})}
    head = "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode("latin-1") + body


def tus_patch_head(path: str, length: int, offset: int = 0) -> bytes:
    """The head of a tus PATCH of ``length`` bytes at ``offset``, for a body sent by hand."""
    headers = {
        "Tus-Resumable": "1.0.0",
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
        "Content-Length": str(length),
    }
    return request_bytes("PATCH", path, headers=headers)


BOUNDARY = b"PaimonTestBoundary"
END = b"--" + BOUNDARY + b"--\r\n"


def file_part(filename: bytes, content: bytes) -> bytes:
    """One part of the field ``file``; the filename goes on the wire exactly as given."""
    return (
        b"--" + BOUNDARY + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n"
    )


def multipart(filename: bytes, content: bytes) -> bytes:
    """A whole body holding one file part (boundary ``BOUNDARY``)."""
    return file_part(filename, content) + END


def curl_form(
    fields: list[tuple[str, object]], boundary: bytes, ending: bytes = b"--\r\n"
) -> bytes:
    """A multipart body framed as curl -F frames it: CRLF line breaks, then the close
    delimiter (``--boundary`` and ``ending``). A field is (name, value); a file is
    (name, (filename, content))."""
    body = b""
    for name, value in fields:
        if isinstance(value, tuple):
            filename, data = value
            head = f'name="{name}"; filename="{filename}"\r\nContent-Type: application/octet-stream'
        else:
            head = f'name="{name}"'
            data = value if isinstance(value, bytes) else str(value).encode()
        body += b"--" + boundary + f"\r\nContent-Disposition: form-data; {head}\r\n\r\n".encode()
        body += data + b"\r\n"
    return body + b"--" + boundary + ending


def drip(url: str, head: bytes, seconds: float) -> tuple[RawReply | None, float]:
    """Send ``head`` then one byte every 0.2 s until the server answers or ``seconds``
    pass; the reply (None if the server never answered) and when it came."""
    started = time.monotonic()
    with connect(url, timeout=seconds + 5) as sock:
        sock.sendall(head)
        sock.settimeout(0.2)
        while time.monotonic() - started < seconds:
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    break
            except TimeoutError:
                pass
            try:
                sock.sendall(b"x")
            except OSError:
                break  # the server closed its side for reading: the reply is next
        sock.settimeout(5)
        try:
            return read_reply(sock), time.monotonic() - started
        except (OSError, ConnectionError):
            return None, time.monotonic() - started


PIECE = 64 * 1024


class SlowBody(threading.Thread):
    """Sends a request head, then its body in 64 KiB pieces with a pause between them;
    keeps the reply, or the error when the server cut the connection."""

    def __init__(self, url: str, head: bytes, body: bytes, pause: float):
        super().__init__(daemon=True)
        self.url, self.head, self.body, self.pause = url, head, body, pause
        self.sent = 0
        self.reply = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            with connect(self.url, timeout=60) as sock:
                sock.sendall(self.head)
                for start in range(0, len(self.body), PIECE):
                    sock.sendall(self.body[start : start + PIECE])
                    self.sent = start + PIECE
                    time.sleep(self.pause)
                self.reply = read_reply(sock)
        except (OSError, ConnectionError) as exc:
            self.error = exc
