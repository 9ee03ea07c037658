"""One delivery attempt (paimon/webhooks/sender.py ``post``) against real receivers on
127.0.0.1 that misbehave: the whole attempt is bounded, not each read."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from paimon.webhooks.sender import READ_TIMEOUT_SECONDS, post

DRIP_SECONDS = 0.5  # between two bytes of the answer: far under the read timeout


@pytest.fixture
def dripping() -> Iterator[tuple[str, list[int]]]:
    """A receiver that reads the request, then answers one byte every DRIP_SECONDS for
    as long as the connection stays open: every read gets a byte in time, so only a
    deadline on the whole attempt ends it. Yields its URL and the bytes it sent."""
    listener = socket.create_server(("127.0.0.1", 0))
    sent: list[int] = []
    answer = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"z" * 10_000

    def serve() -> None:
        with listener:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                for byte in answer:
                    try:
                        conn.sendall(bytes([byte]))
                    except OSError:
                        return
                    sent.append(byte)
                    time.sleep(DRIP_SECONDS)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook", sent
    listener.close()


def test_an_answer_dripped_byte_by_byte_is_cut_off_at_the_attempts_deadline(
    dripping: tuple[str, list[int]],
) -> None:
    url, sent = dripping
    deadline = 2.0
    started = time.monotonic()
    outcome = post(url, {"Content-Type": "application/json"}, b"{}", True, deadline)
    took = time.monotonic() - started
    assert deadline <= took < deadline + 1.0, took
    assert deadline < READ_TIMEOUT_SECONDS  # no single read timed out: the deadline did
    assert outcome.status is None and outcome.retryable
    assert outcome.error == f"no whole answer within {deadline:g} s"
    assert len(sent) >= 3  # the receiver was answering all along
    time.sleep(2 * DRIP_SECONDS)
    stopped = len(sent)
    time.sleep(3 * DRIP_SECONDS)
    assert len(sent) == stopped  # and the connection is closed: it can send no more
