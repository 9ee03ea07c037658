"""The exception a command handler raises to answer one of MEGA's error codes, and the
decoding of binary arguments that answers ``-2`` when they are not what they claim."""

from __future__ import annotations

import binascii

from mega.crypto import base64_url_decode

from paimon.storage.mega.codes import EARGS


class ApiError(Exception):
    """Raised by a command handler to answer a MEGA error code instead of a result."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def decode_binary(value: object, size: int) -> bytes:
    """``size`` bytes from a base64url argument; ``-2`` (EARGS) if it is anything else."""
    try:
        raw = base64_url_decode(value) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise ApiError(EARGS)
    return raw
