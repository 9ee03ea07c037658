"""The emulator's file attributes at the HTTP level, as MEGA's SDK and megajs use them:
``ufa`` upload URLs, ``pfa``, the node's ``fa``, and ``ufa`` with ``fah`` read URLs."""

from __future__ import annotations

import base64
import os
import struct

import requests
from mega import Mega

from tests.support.megasim import MegaSim, upload_ciphertext


def api(sim: MegaSim, client: Mega | None, command: dict) -> object:
    params = {"id": 1, **({"sid": client.sid} if client else {})}
    return requests.post(f"{sim.url}/cs", params=params, json=[command], timeout=30).json()[0]


def put_attribute(sim: MegaSim, client: Mega, data: bytes, suffix: str = "") -> str:
    """``ufa`` then the POST (``suffix`` as megajs adds it): the handle, base64url."""
    url = api(sim, client, {"a": "ufa", "s": len(data), "ssl": 2})["p"]
    reply = requests.post(url + suffix, data=data, timeout=30)
    assert reply.status_code == 200 and len(reply.content) == 8, reply.content
    return base64.urlsafe_b64encode(reply.content).decode().rstrip("=")


def read_back(sim: MegaSim, handles: list[str]) -> list[tuple[bytes, bytes]]:
    """The SDK's read: ``ufa`` with ``fah`` and ``r`` (no session), a POST of the raw
    handles; each entry as (handle, data)."""
    url = api(sim, None, {"a": "ufa", "fah": handles[0], "ssl": 2, "r": 1})["p"]
    raw = b"".join(base64.urlsafe_b64decode(h + "=") for h in handles)
    body = requests.post(url, data=raw, timeout=30).content
    entries = []
    while body:
        (length,) = struct.unpack("<I", body[8:12])
        entries.append((body[:8], body[12 : 12 + length]))
        body = body[12 + length :]
    return entries


def test_attributes_attach_list_and_read_back(megasim: MegaSim, v2_client: Mega) -> None:
    node = upload_ciphertext(v2_client, os.urandom(64))
    thumbnail, preview = os.urandom(32), os.urandom(4096)
    first = put_attribute(megasim, v2_client, thumbnail)
    second = put_attribute(megasim, v2_client, preview, suffix="/1")  # megajs's URL
    assert api(megasim, v2_client, {"a": "pfa", "n": node["h"], "fa": f"1*{second}"}) == (
        f"1:1*{second}"
    )
    fa = api(megasim, v2_client, {"a": "pfa", "n": node["h"], "fa": f"0*{first}"})
    assert fa == f"1:0*{first}/1:1*{second}"
    listed = api(megasim, v2_client, {"a": "f", "c": 1})["f"]
    assert next(n for n in listed if n["h"] == node["h"])["fa"] == fa
    assert api(megasim, v2_client, {"a": "g", "n": node["h"]})["fa"] == fa
    entries = read_back(megasim, [first, second, "AAAAAAAAAAA"])  # the last: unknown
    assert [data for _, data in entries] == [thumbnail, preview]
    # another thumbnail replaces the first
    third = put_attribute(megasim, v2_client, os.urandom(48))
    fa = api(megasim, v2_client, {"a": "pfa", "n": node["h"], "fa": f"0*{third}"})
    assert fa == f"1:0*{third}/1:1*{second}"


def test_bad_attribute_requests(megasim: MegaSim, v2_client: Mega) -> None:
    node = upload_ciphertext(v2_client, os.urandom(64))
    assert api(megasim, None, {"a": "ufa", "s": 32}) == -15  # an upload needs a session
    assert api(megasim, v2_client, {"a": "ufa", "s": 0}) == -2
    assert api(megasim, v2_client, {"a": "ufa", "s": 16 * 1024 * 1024}) == -2
    url = api(megasim, v2_client, {"a": "ufa", "s": 32})["p"]
    assert requests.post(url, data=os.urandom(16), timeout=30).json() == -2  # not s bytes
    assert requests.post(url, data=os.urandom(32), timeout=30).status_code == 404  # spent
    unknown = {"a": "pfa", "n": node["h"], "fa": "0*AAAAAAAAAAA"}
    assert api(megasim, v2_client, unknown) == -9
    handle = put_attribute(megasim, v2_client, os.urandom(16))
    assert api(megasim, v2_client, {"a": "pfa", "n": node["h"], "fa": handle}) == -2
    folder = v2_client.get_node_by_type(2)[0]
    assert api(megasim, v2_client, {"a": "pfa", "n": folder, "fa": f"0*{handle}"}) == -11
