"""Upload tokens: binary ones for ``u`` with ``v`` (as the MEGA SDK asks), text without."""

from __future__ import annotations

import os

import pytest
import requests
from mega import Mega
from mega.crypto import base64_url_encode
from mega.errors import RequestError

from tests.support.megasim import ATTRIBUTES, WRAPPED_KEY, post

KIB = 1024


def put_node(client: Mega, completion: str) -> dict:
    root = client.get_node_by_type(2)[0]
    item = {"h": completion, "t": 0, "a": ATTRIBUTES, "k": WRAPPED_KEY}
    return client._api_request({"a": "p", "t": root, "n": [item]})["f"][0]


@pytest.mark.parametrize("version", [2, 3])
def test_v2_uploads_complete_with_a_binary_token(v2_client: Mega, version: int) -> None:
    size = 300_000
    data = os.urandom(size)
    # The SDK's CommandPutFile: {"a":"u","ssl":2,"v":3,"s":size}; v2 is the older form.
    url = v2_client._api_request({"a": "u", "ssl": 2, "v": version, "s": size})["p"]
    first_chunk = 128 * KIB
    # A POST that leaves the file incomplete answers "0" (the SDK takes any other short
    # reply for an error code); the SDK also appends "?d=<crc>" to the URL.
    assert post(url, first_chunk, data[first_chunk:]).content == b"0"
    completing = requests.post(f"{url}/0?d=AAAAAAAAAAAAAAAA", data=data[:first_chunk], timeout=30)
    token = completing.content
    assert len(token) == 36

    node = put_node(v2_client, base64_url_encode(token))
    assert node["s"] == size
    download = v2_client._api_request({"a": "g", "g": 1, "n": node["h"]})
    assert requests.get(download["g"], timeout=30).content == data


def test_the_raw_token_is_not_what_p_takes(v2_client: Mega) -> None:
    url = v2_client._api_request({"a": "u", "v": 2, "s": 10})["p"]
    token = post(url, 0, b"x" * 10).content
    with pytest.raises(RequestError) as raised:
        put_node(v2_client, token.hex())
    assert raised.value.code == -9


def test_requests_without_v_keep_text_tokens(v2_client: Mega) -> None:
    url = v2_client._api_request({"a": "u", "s": 300_000})["p"]
    assert post(url, 128 * KIB, b"y" * (300_000 - 128 * KIB)).content == b""
    completion = post(url, 0, b"y" * 128 * KIB).text
    assert len(completion) == 27
    assert put_node(v2_client, completion)["s"] == 300_000


def test_an_empty_v2_upload_is_one_empty_post(v2_client: Mega) -> None:
    url = v2_client._api_request({"a": "u", "v": 2, "s": 0})["p"]
    token = post(url, 0, b"").content
    assert len(token) == 36
    assert put_node(v2_client, base64_url_encode(token))["s"] == 0
