"""Signatures as the Standard Webhooks specification defines them, so receivers check
them with its published libraries: ``webhook-signature`` is ``v1,`` and the base64
HMAC-SHA256, keyed with the secret's bytes, of ``<webhook-id>.<webhook-timestamp>.<body>``."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

PREFIX = "whsec_"


def secret_bytes(secret: str) -> bytes:
    """The key a ``whsec_<base64>`` secret stands for; ValueError when it is not one."""
    if not secret.startswith(PREFIX):
        raise ValueError("not a whsec_ secret")
    try:
        return base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except binascii.Error:
        raise ValueError("not base64 after whsec_") from None


def webhook_secret_ok(secret: str) -> bool:
    """A whsec_ secret of 24 to 64 bytes (the specification asks for 24 at least)."""
    try:
        return 24 <= len(secret_bytes(secret)) <= 64
    except ValueError:
        return False


def headers(key: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers one attempt carries (``timestamp``: the attempt's, in seconds,
    which receivers compare with their clock)."""
    signed = b"%s.%d.%s" % (message_id.encode(), timestamp, body)
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }
