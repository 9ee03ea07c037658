"""SocketBody against gunicorn's own request parser, on real sockets: the body read
straight from the socket is exact whatever gunicorn already holds, and gunicorn then
finds the next request where it starts."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from gunicorn.config import Config
from gunicorn.http.parser import RequestParser

from paimon.server.socketbody import SocketBody
from tests.support.rawhttp import request_bytes

WAIT_SECONDS = 30


@contextmanager
def parsed(raw: bytes) -> Iterator[tuple[RequestParser, socket.socket]]:
    """gunicorn's parser on the server end of a connection; ``raw`` is sent from the
    client end by a thread (so bodies larger than the socket buffers flow), which then
    closes its sending side."""
    server, client = socket.socketpair()
    server.settimeout(WAIT_SECONDS)

    def send() -> None:
        client.sendall(raw)
        client.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        yield RequestParser(Config(), server, ("127.0.0.1", 0)), server
    finally:
        sender.join(WAIT_SECONDS)
        server.close()
        client.close()


def read_all(body: SocketBody, piece: int) -> bytes:
    buffer = memoryview(bytearray(piece))
    out = bytearray()
    while count := body.readinto(buffer):
        out += buffer[:count]
    return bytes(out)


@pytest.mark.parametrize("size", [0, 100, 3 * 1024 * 1024 + 5], ids=["empty", "small", "3 MiB"])
@pytest.mark.parametrize("piece", [7, 100_000], ids=["7 B reads", "100 kB reads"])
def test_the_body_is_exact_and_the_next_request_follows(size: int, piece: int) -> None:
    """A small body arrives with the headers (gunicorn holds it), a large one mostly
    after; a second request pipelined behind it must not be eaten by the first."""
    content = os.urandom(size)
    raw = request_bytes("PUT", "/first", content) + request_bytes("PUT", "/second", b"tail")
    with parsed(raw) as (parser, sock):
        first = next(parser)
        body = SocketBody.of(first.body, sock)
        assert body is not None
        assert read_all(body, piece) == content
        assert body.readinto(memoryview(bytearray(10))) == 0  # and it stays ended
        second = next(parser)
        assert (second.path, second.body.read()) == ("/second", b"tail")


@pytest.mark.parametrize("size", [1024, 200_000], ids=["read whole for the line", "long"])
def test_bytes_left_by_a_readline_are_served_first(size: int) -> None:
    """gunicorn reads 1 KiB for a line: a 1 KiB body is then all in its buffers."""
    content = b"first line\n" + os.urandom(size - len(b"first line\n"))
    with parsed(request_bytes("PUT", "/lines", content)) as (parser, sock):
        request = next(parser)
        body = SocketBody.of(request.body, sock)
        assert body is not None
        line = request.body.readline()
        assert line == b"first line\n"
        assert read_all(body, 65536) == content[len(line) :]


def test_a_client_gone_mid_body_ends_the_reads_early() -> None:
    """0 before Content-Length bytes arrived: the caller sees the body cut short."""
    raw = request_bytes("PUT", "/cut", b"0123456789", {"Content-Length": "1000"})
    with parsed(raw) as (parser, sock):
        body = SocketBody.of(next(parser).body, sock)
        assert body is not None
        assert read_all(body, 4096) == b"0123456789"


def test_only_bodies_of_known_length_on_that_socket_are_matched() -> None:
    chunked = (
        b"PUT /chunked HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nabcd\r\n0\r\n\r\n"
    )
    with parsed(chunked) as (parser, sock):
        request = next(parser)
        assert SocketBody.of(request.body, sock) is None
        assert request.body.read() == b"abcd"  # gunicorn's own reader still serves it
    with parsed(request_bytes("PUT", "/elsewhere", b"abc")) as (parser, _sock):
        other, _ = socket.socketpair()
        with other:
            assert SocketBody.of(next(parser).body, other) is None
