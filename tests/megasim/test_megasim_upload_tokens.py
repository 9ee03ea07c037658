"""Chunk replies and upload tokens, as MEGA answers them.

What a chunk POST that leaves the file incomplete answers depends on its URL's checksum
parameter (MEGA's SDK, commit d074b277a): ``0`` with ``?d=<checksum>``, an empty body with
``?c=`` or none. The completing POST answers the token: binary (36 bytes) for ``u`` asked
with ``v``, as the SDK and megajs ask, text without it, as mega.py and async-mega-py do.
"""

from __future__ import annotations

import os

import pytest
import requests
from mega import Mega
from mega.crypto import base64_url_encode
from mega.errors import RequestError

from tests.support.megasim import ATTRIBUTES, WRAPPED_KEY, MegaSim, post

KIB = 1024
SIZE = 300_000  # three chunks: 128 KiB, 256 KiB (short: the file ends)
FIRST_CHUNK = 128 * KIB


def sdk_checksum(body: bytes) -> str:
    """``?d=`` as MEGA's SDK computes it (``EncryptByChunks::updateCRC``), written out
    byte by byte: body byte i XORed into byte i % 12 of 12, then base64url."""
    folded = bytearray(12)
    for index, byte in enumerate(body):
        folded[index % 12] ^= byte
    return base64_url_encode(bytes(folded))


def post_checked(url: str, offset: int, body: bytes, parameter: str = "d") -> requests.Response:
    return requests.post(f"{url}/{offset}?{parameter}={sdk_checksum(body)}", data=body, timeout=30)


def put_node(client: Mega, completion: str) -> dict:
    root = client.get_node_by_type(2)[0]
    item = {"h": completion, "t": 0, "a": ATTRIBUTES, "k": WRAPPED_KEY}
    return client._api_request({"a": "p", "t": root, "n": [item]})["f"][0]


def received_bytes(sim: MegaSim) -> int:
    (upload,) = sim.state()["pending_uploads"]
    return upload["received_bytes"]


@pytest.mark.parametrize("version", [2, 3])
def test_the_sdks_upload_answers_0_then_a_binary_token(v2_client: Mega, version: int) -> None:
    data = os.urandom(SIZE)
    # The SDK's CommandPutFile: {"a":"u","ssl":2,"v":3,"s":size}; v2 is CommandGetPutUrl's.
    url = v2_client._api_request({"a": "u", "ssl": 2, "v": version, "s": SIZE})["p"]
    # TransferSlot::doio reads "0" as "chunk taken", 36 bytes as the token.
    assert post_checked(url, FIRST_CHUNK, data[FIRST_CHUNK:]).content == b"0"
    token = post_checked(url, 0, data[:FIRST_CHUNK]).content
    assert len(token) == 36

    node = put_node(v2_client, base64_url_encode(token))
    assert node["s"] == SIZE
    download = v2_client._api_request({"a": "g", "g": 1, "n": node["h"]})
    assert requests.get(download["g"], timeout=30).content == data


def test_megajs_upload_gets_an_empty_body_then_a_binary_token(v2_client: Mega) -> None:
    """megajs asks with ``v: 2`` and sends no checksum: it reads any non-empty reply as
    the token, so an unfinished chunk must answer nothing (it used to answer ``0``)."""
    data = os.urandom(SIZE)
    url = v2_client._api_request({"a": "u", "ssl": 0, "s": SIZE, "ms": 0, "r": 0, "e": 0, "v": 2})[
        "p"
    ]
    assert post(url, FIRST_CHUNK, data[FIRST_CHUNK:]).content == b""
    token = post(url, 0, data[:FIRST_CHUNK]).content
    assert len(token) == 36
    assert put_node(v2_client, base64_url_encode(token))["s"] == SIZE


def test_the_old_c_parameter_gets_an_empty_body(v2_client: Mega) -> None:
    data = os.urandom(SIZE)
    url = v2_client._api_request({"a": "u", "v": 2, "s": SIZE})["p"]
    assert post_checked(url, FIRST_CHUNK, data[FIRST_CHUNK:], "c").content == b""
    assert len(post_checked(url, 0, data[:FIRST_CHUNK], "c").content) == 36


def test_without_v_the_token_is_text_whatever_the_parameter(v2_client: Mega) -> None:
    data = os.urandom(SIZE)
    url = v2_client._api_request({"a": "u", "s": SIZE})["p"]
    assert post_checked(url, FIRST_CHUNK, data[FIRST_CHUNK:]).content == b"0"
    completion = post_checked(url, 0, data[:FIRST_CHUNK]).text
    assert len(completion) == 27
    assert put_node(v2_client, completion)["s"] == SIZE


def test_one_post_of_several_chunks_is_checked_as_one_body(v2_client: Mega) -> None:
    """The checksum covers the POST's whole body, positions counted from its start."""
    data = os.urandom(SIZE)
    url = v2_client._api_request({"a": "u", "v": 3, "s": SIZE})["p"]
    assert len(post_checked(url, 0, data).content) == 36


@pytest.mark.parametrize("parameter", ["d", "c"])
def test_a_wrong_checksum_is_ekey_and_records_nothing(
    megasim: MegaSim, v2_client: Mega, parameter: str
) -> None:
    """MEGA's integrity check: the SDK sends a chunk answered -14 (API_EKEY) again."""
    data = os.urandom(SIZE)
    url = v2_client._api_request({"a": "u", "v": 3, "s": SIZE})["p"]
    tail = bytearray(data[FIRST_CHUNK:])
    checksum = sdk_checksum(bytes(tail))
    tail[1000] ^= 1  # damaged on the way
    reply = requests.post(f"{url}/{FIRST_CHUNK}?{parameter}={checksum}", data=tail, timeout=30)
    assert reply.content == b"-14"
    assert received_bytes(megasim) == 0

    assert post_checked(url, FIRST_CHUNK, data[FIRST_CHUNK:], parameter).status_code == 200
    assert received_bytes(megasim) == SIZE - FIRST_CHUNK
    # A damaged copy sent again overwrote the good one: the range is missing once more.
    reply = requests.post(f"{url}/{FIRST_CHUNK}?{parameter}={checksum}", data=tail, timeout=30)
    assert reply.content == b"-14"
    assert received_bytes(megasim) == 0


def test_a_malformed_checksum_is_eargs(megasim: MegaSim, v2_client: Mega) -> None:
    url = v2_client._api_request({"a": "u", "v": 3, "s": 10})["p"]
    for value in ("", "AAAA", "A" * 17, "!" * 16):
        assert requests.post(f"{url}/0?d={value}", data=b"x" * 10, timeout=30).content == b"-2"
    assert received_bytes(megasim) == 0


def test_the_raw_token_is_not_what_p_takes(v2_client: Mega) -> None:
    url = v2_client._api_request({"a": "u", "v": 2, "s": 10})["p"]
    token = post(url, 0, b"x" * 10).content
    with pytest.raises(RequestError) as raised:
        put_node(v2_client, token.hex())
    assert raised.value.code == -9


def test_requests_without_v_keep_text_tokens(v2_client: Mega) -> None:
    url = v2_client._api_request({"a": "u", "s": SIZE})["p"]
    assert post(url, FIRST_CHUNK, b"y" * (SIZE - FIRST_CHUNK)).content == b""
    completion = post(url, 0, b"y" * FIRST_CHUNK).text
    assert len(completion) == 27
    assert put_node(v2_client, completion)["s"] == SIZE


def test_an_empty_v2_upload_is_one_empty_post(v2_client: Mega) -> None:
    url = v2_client._api_request({"a": "u", "v": 2, "s": 0})["p"]
    token = post_checked(url, 0, b"").content  # the checksum of nothing: 12 zero bytes
    assert len(token) == 36
    assert put_node(v2_client, base64_url_encode(token))["s"] == 0
