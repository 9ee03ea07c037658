"""Many slow uploads at once, from one thread: phones on a bad link, as a server sees them.

Each is a PUT with a Content-Length whose body is sent ``rate`` bytes a second, so the
server holds it (a thread, a spool file, an upload slot) for as long as the test or
benchmark wants. Used by tests/server/test_slow_clients.py and by ``scripts/bench``.
"""

from __future__ import annotations

import contextlib
import select
import socket
import sys
import threading
from urllib.parse import urlsplit

import requests

KIB = 1024


def client_address(index: int) -> str:
    """A loopback address of its own for client ``index`` (127.1.0.1, 127.1.0.2, ...):
    the server tells clients apart by address, as it would real phones."""
    return f"127.1.{index // 250}.{1 + index % 250}"


def connect(url: str, timeout: float = 10, source: str | None = None) -> socket.socket:
    """A connection to the server at ``url`` (on 127.0.0.1 only), from ``source``."""
    parts = urlsplit(url)
    if parts.hostname != "127.0.0.1":
        raise ValueError("slow clients talk to 127.0.0.1 only")
    return socket.create_connection(
        (parts.hostname, parts.port),
        timeout=timeout,
        source_address=(source, 0) if source else None,
    )


def metric(url: str, sample: str) -> float:
    """One sample of the server's /metrics, e.g. ``paimon_jobs{state="receiving"}``; 0
    when absent."""
    for line in requests.get(f"{url}/metrics", timeout=10).text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == sample:
            return float(value)
    return 0.0


def slots_in_use(url: str) -> int:
    """Bodies the server is receiving: upload slots taken."""
    return round(metric(url, "paimon_upload_slots_in_use"))


def receiving_jobs(url: str) -> int:
    """Uploads past admission whose job exists (disk reserved, job written)."""
    return round(metric(url, 'paimon_jobs{state="receiving"}'))


class SlowUploads:
    """``count`` PUT uploads of ``size`` bytes, each sending ``rate`` bytes a second,
    each from a client address of its own unless ``same_client``."""

    def __init__(
        self,
        url: str,
        count: int,
        rate: int = 2 * KIB,
        size: int = 1024 * KIB,
        headers: dict[str, str] | None = None,
        same_client: bool = False,
    ):
        self.url, self.count, self.rate, self.size = url, count, rate, size
        self.headers = headers or {}
        self.same_client = same_client
        self.sockets: list[socket.socket] = []
        self.sent: list[int] = []
        self.answered: dict[int, bytes] = {}  # index -> the start of an early reply
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._drip, name="slow-uploads", daemon=True)

    def head(self, index: int) -> bytes:
        fields = {
            "Host": urlsplit(self.url).netloc,
            "Content-Length": str(self.size),
            **self.headers,
        }
        lines = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
        return f"PUT /upload/slow-{index}.bin HTTP/1.1\r\n{lines}\r\n".encode()

    def start(self) -> SlowUploads:
        for index in range(self.count):
            sock = connect(self.url, source=None if self.same_client else client_address(index))
            sock.sendall(self.head(index) + b"x" * self.rate)
            sock.setblocking(False)
            self.sockets.append(sock)
            self.sent.append(self.rate)
        self._thread.start()
        return self

    def _drip(self) -> None:
        piece = b"x" * self.rate
        while not self._stop.wait(1.0):
            with self._lock:
                for index, sock in enumerate(self.sockets):
                    if index in self.answered or self.sent[index] + self.rate >= self.size:
                        continue
                    self._note_reply(index, sock)
                    # OSError: the server stopped reading (it answered, or is busy).
                    with contextlib.suppress(OSError):
                        self.sent[index] += sock.send(piece)

    def _note_reply(self, index: int, sock: socket.socket) -> None:
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            try:
                self.answered[index] = sock.recv(200)
            except OSError as exc:
                self.answered[index] = repr(exc).encode()

    def refused(self) -> int:
        """Uploads the server answered before their body ended (429, 503, 408)."""
        with self._lock:
            for index, sock in enumerate(self.sockets):
                if index not in self.answered:
                    self._note_reply(index, sock)
            return len(self.answered)

    def finish(self, index: int, timeout: float = 30) -> tuple[int, bytes]:
        """Send the rest of one upload at full speed: the server's status and body."""
        with self._lock:
            sock = self.sockets[index]
            self.answered[index] = b""  # no more drips
            sock.setblocking(True)
            sock.settimeout(timeout)
            sock.sendall(b"x" * (self.size - self.sent[index]))
        with sock.makefile("rb") as stream:
            status = int(stream.readline().split()[1])
            length = 0
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            return status, stream.read(length)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        for sock in self.sockets:
            sock.close()


def main() -> None:
    """``python -m paimon_devtools.slowclients URL COUNT``: hold COUNT slow uploads in a
    process of their own, so they do not share a GIL with what is being timed; prints
    ``started`` once all are sending, and at the end of stdin ``refused N``, then stops."""
    url, count = sys.argv[1], int(sys.argv[2])
    crowd = SlowUploads(url, count).start()
    print("started", flush=True)
    try:
        sys.stdin.read()
        print(f"refused {crowd.refused()}", flush=True)
    finally:
        crowd.close()


if __name__ == "__main__":
    main()
