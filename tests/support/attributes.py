"""MEGA file attributes (thumbnails, previews) read back from the emulator as MEGA's web
app reads a file link's, and decrypted here with pycryptodome: not with Paimon's code,
whose attributes the tests judge."""

from __future__ import annotations

import base64
import struct
import time

import requests
from Crypto.Cipher import AES

from tests.support.megasim import MegaSim


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_node(sim: MegaSim, link: str) -> dict:
    """What a file link's visitor gets from ``g`` (MEGA's web app asks it for ``fa``)."""
    handle = link.removeprefix("https://mega.nz/file/").split("#")[0]
    reply = requests.post(f"{sim.url}/cs", json=[{"a": "g", "p": handle}], timeout=30).json()
    assert isinstance(reply[0], dict), reply
    return reply[0]


def wait_for_attributes(sim: MegaSim, link: str, types: str = "01", seconds: float = 60) -> str:
    """The node's ``fa`` once it has an attribute of each of ``types``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        fa = public_node(sim, link).get("fa", "")
        if all(f"{kind}*" in fa for kind in types):
            return fa
        time.sleep(0.2)
    raise AssertionError(f"no file attributes {types} on {link} after {seconds} s")


def read_attributes(sim: MegaSim, link: str, fa: str) -> dict[int, bytes]:
    """Each attribute of ``fa`` (``ufa`` with ``fah`` for a read URL, a POST of the
    handle), decrypted with the link's key: AES-CBC, zero IV, under the node key's
    halves XORed. Zero padding is left on."""
    words = struct.unpack(">8I", b64decode(link.split("#", 1)[1]))
    aes_key = struct.pack(">4I", *(words[i] ^ words[i + 4] for i in range(4)))
    images = {}
    for item in fa.split("/"):
        kind, handle = item.split(":")[-1].split("*")
        url = requests.post(
            f"{sim.url}/cs", json=[{"a": "ufa", "fah": handle, "ssl": 2, "r": 1}], timeout=30
        ).json()[0]["p"]
        body = requests.post(url, data=b64decode(handle), timeout=30).content
        assert body[:8] == b64decode(handle)
        (length,) = struct.unpack("<I", body[8:12])
        assert len(body) == 12 + length and length % 16 == 0
        images[int(kind)] = AES.new(aes_key, AES.MODE_CBC, bytes(16)).decrypt(body[12:])
    return images
