"""Helpers for the MEGA backend tests."""

from __future__ import annotations

import tempfile
from pathlib import Path

import requests
from mega.crypto import a32_to_base64

from paimon.config import Settings
from paimon.storage.mega.crypto import decrypt_file, parse_link
from paimon.storage.mega.errors import RetryPolicy
from tests.fixtures.megasim import V2_EMAIL, V2_PASSWORD, MegaSim

#: Real backoff, but in milliseconds.
FAST_RETRY = RetryPolicy(attempts=6, initial_wait=0.005, max_wait=0.02)


def mega_settings(sim: MegaSim, **overrides: object) -> Settings:
    """Settings for the emulator's v2 account, with a data directory (and so a saved MEGA
    session) of their own unless ``data_dir`` is given."""
    values: dict[str, object] = {
        "mega_email": V2_EMAIL,
        "mega_password": V2_PASSWORD,
        "mega_api_url": sim.url,
        "data_dir": tempfile.mkdtemp(prefix="paimon-mega-"),
    }
    return Settings(**(values | overrides))


def download(sim: MegaSim, link: str) -> bytes:
    """Fetch a public link through the emulator (``g``, then GET) and decrypt it.

    ``decrypt_file`` raises MacMismatch unless the content matches the meta-MAC in the
    link's key, so a passing download proves both the bytes and the MACs.
    """
    handle, key = parse_link(link)
    reply = requests.post(f"{sim.url}/cs", json=[{"a": "g", "g": 1, "p": handle}], timeout=10)
    url = reply.json()[0]["g"]
    ciphertext = requests.get(url, timeout=60).content
    return decrypt_file(ciphertext, key)


def legacy_link(link: str) -> str:
    """The ``#!handle!key`` form: mega.py's /file/ parser misses handles with "-"."""
    handle, key = parse_link(link)
    return f"https://mega.nz/#!{handle}!{a32_to_base64(key)}"


def spool(tmp_path: Path, payload: bytes, name: str = "upload.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(payload)
    return path
