"""The file part's size, guessed from a multipart body's first bytes, as clients send it."""

from __future__ import annotations

import os

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from urllib3 import encode_multipart_formdata

from paimon.web.multipart import HEAD_BYTES, last_part_size
from tests.support.rawhttp import curl_form

CONTENT = os.urandom(200_000)


def requests_body(fields: list[tuple[str, object]]) -> tuple[bytes, bytes]:
    """requests sends the plain fields (``data=``) first, then the files."""
    data = [(name, value) for name, value in fields if not isinstance(value, tuple)]
    files = [(name, value) for name, value in fields if isinstance(value, tuple)]
    prepared = requests.Request("POST", "http://127.0.0.1/upload", data=data, files=files).prepare()
    boundary = prepared.headers["Content-Type"].split("boundary=")[1]
    assert isinstance(prepared.body, bytes)
    return prepared.body, boundary.encode()


def urllib3_body(fields: list[tuple[str, object]]) -> tuple[bytes, bytes]:
    body, content_type = encode_multipart_formdata(fields)
    return body, content_type.split("boundary=")[1].encode()


def curl_body(fields: list[tuple[str, object]]) -> tuple[bytes, bytes]:
    boundary = b"------------------------7b2c1f0e9d4a3b21"
    return curl_form(fields, boundary), boundary


ENCODERS = [requests_body, urllib3_body, curl_body]


@pytest.mark.parametrize("encode", ENCODERS)
@pytest.mark.parametrize(
    "fields",
    [
        [("file", ("photo.jpg", CONTENT))],
        [("note", "before the file"), ("file", ("photo.jpg", CONTENT))],
        [("file", ("empty.txt", b""))],
    ],
    ids=["file only", "field first", "empty file"],
)
def test_the_last_file_part_size_is_exact(encode, fields) -> None:
    body, boundary = encode(fields)
    expected = len(fields[-1][1][1])
    assert last_part_size(body[:HEAD_BYTES], boundary, len(body)) == expected


@pytest.mark.parametrize("encode", [urllib3_body, curl_body])
def test_a_field_after_the_file_makes_a_wrong_guess(encode) -> None:
    """Why the guess is only a guess: the transfer checks it against the real size."""
    body, boundary = encode([("file", ("photo.jpg", CONTENT)), ("note", "after")])
    guess = last_part_size(body[:HEAD_BYTES], boundary, len(body))
    assert guess is not None and guess > len(CONTENT)


def test_no_guess_before_the_file_content_starts() -> None:
    body, boundary = curl_body([("file", ("photo.jpg", CONTENT))])
    headers_end = body.index(b"\r\n\r\n")
    assert last_part_size(body[:headers_end], boundary, len(body)) is None


def test_no_guess_without_a_file_part_or_for_what_is_not_multipart() -> None:
    body, boundary = curl_body([("note", "no file here")])
    assert last_part_size(body, boundary, len(body)) is None
    assert last_part_size(b"\x00" * 100, boundary, 100) is None


@given(
    prefix=st.binary(max_size=200),
    cut=st.integers(min_value=0, max_value=400),
    content_length=st.integers(min_value=0, max_value=10**9),
)
def test_any_head_gives_a_size_or_none(prefix: bytes, cut: int, content_length: int) -> None:
    """A guess must never fail a request, whatever the body starts with."""
    body, boundary = curl_body([("file", ("x.bin", prefix))])
    for head in (prefix, (prefix + body)[:cut], body[:cut] + prefix):
        guess = last_part_size(head, boundary, content_length)
        assert guess is None or guess >= 0
