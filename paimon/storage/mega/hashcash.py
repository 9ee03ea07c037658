"""MEGA's hashcash proof of work (HTTP 402 + ``X-Hashcash``), for the client and the emulator.

A challenge is ``1:<easiness>:<timestamp>:<token>``; the work is to find a 4-byte prefix
such that the first 32 bits (big-endian) of SHA-256(prefix + token * 262144) are at most
a threshold derived from the easiness (meganz/sdk ``src/hashcash.cpp``). Each try hashes
about 12 MiB; hashlib releases the GIL on buffers that large, so plain threads use every
core (at most ``MAX_WORKERS``). The answer header is ``1:<token>:<base64url prefix>``.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from mega.crypto import base64_url_decode, base64_url_encode

VERSION = 1
TOKEN_BYTES = 48
PREFIX_BYTES = 4
REPEAT = 262_144  # the token is repeated this often: 12 MiB of work per try
#: Give up on one challenge after this long (the SDK's budget is 30 s to 4.5 min).
DEFAULT_BUDGET_SECONDS = 60.0
#: Each worker thread hashes its own 12 MiB buffer: bound the memory on big machines.
MAX_WORKERS = 8


class HashcashError(Exception):
    """A challenge that could not be answered: malformed, or not solved in time."""


@dataclass(frozen=True)
class Challenge:
    """A parsed ``X-Hashcash`` challenge header."""

    easiness: int
    timestamp: str
    token: str

    @classmethod
    def parse(cls, header: str) -> Challenge:
        parts = header.strip().split(":")
        if len(parts) != 4 or parts[0] != str(VERSION) or not parts[1].isdigit():
            raise HashcashError("MEGA sent a hashcash challenge of an unknown form")
        easiness = int(parts[1])
        if easiness > 255 or len(_token_bytes(parts[3])) != TOKEN_BYTES:
            raise HashcashError("MEGA sent a hashcash challenge of an unknown form")
        return cls(easiness, parts[2], parts[3])

    def header(self) -> str:
        return f"{VERSION}:{self.easiness}:{self.timestamp}:{self.token}"


def threshold(easiness: int) -> int:
    """The largest acceptable first word of the digest (the SDK's thresholdFromEasiness)."""
    return ((((easiness & 63) << 1) + 1) << ((easiness >> 6) * 7 + 3)) & 0xFFFFFFFF


def _token_bytes(token: str) -> bytes:
    try:
        return base64_url_decode(token)
    except ValueError:
        return b""


def _work_buffer(token: str) -> bytearray:
    return bytearray(PREFIX_BYTES) + _token_bytes(token) * REPEAT


def _first_word(buffer: bytearray) -> int:
    return int.from_bytes(hashlib.sha256(buffer).digest()[:4], "big")


def is_valid(token: str, easiness: int, prefix: str) -> bool:
    """True if ``prefix`` (base64url) answers the challenge for ``token``; one SHA-256."""
    raw_prefix = _token_bytes(prefix)
    if len(raw_prefix) != PREFIX_BYTES or len(_token_bytes(token)) != TOKEN_BYTES:
        return False
    buffer = _work_buffer(token)
    buffer[:PREFIX_BYTES] = raw_prefix
    return _first_word(buffer) <= threshold(easiness)


def answer_header(token: str, prefix: str) -> str:
    return f"{VERSION}:{token}:{prefix}"


def parse_answer(header: str) -> tuple[str, str] | None:
    """``(token, prefix)`` from an ``X-Hashcash`` answer header; None if malformed."""
    parts = header.strip().split(":")
    if len(parts) != 3 or parts[0] != str(VERSION):
        return None
    return parts[1], parts[2]


def solve(
    challenge: Challenge,
    *,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    workers: int | None = None,
) -> str:
    """The base64url prefix that answers ``challenge``; HashcashError after the budget.

    Worker ``w`` of ``n`` tries the big-endian nonces ``w, w + n, w + 2n, ...`` in its
    own 12 MiB buffer, as the SDK does; the first one to succeed stops the others.
    """
    count = workers or min(os.cpu_count() or 1, MAX_WORKERS)
    limit = threshold(challenge.easiness)
    deadline = time.monotonic() + budget_seconds
    found = threading.Event()

    def search(start: int) -> bytes | None:
        buffer = _work_buffer(challenge.token)
        for nonce in range(start, 1 << 32, count):
            if found.is_set() or time.monotonic() > deadline:
                return None
            buffer[:PREFIX_BYTES] = nonce.to_bytes(PREFIX_BYTES, "big")
            if _first_word(buffer) <= limit:
                found.set()
                return bytes(buffer[:PREFIX_BYTES])
        return None

    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="hashcash") as pool:
        results = list(pool.map(search, range(count)))
    for result in results:
        if result is not None:
            return base64_url_encode(result)
    raise HashcashError(
        f"MEGA asked for a proof of work (hashcash, easiness {challenge.easiness}) "
        f"that was not found within {budget_seconds:g} s"
    )
