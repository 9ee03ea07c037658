"""The one-core crypto limit: what Paimon's upload could reach if encryption were all."""

from __future__ import annotations

import os
from importlib.metadata import version

from paimon.storage.mega.crypto import FileKey, mac_scratch, seal
from paimon.storage.mega.uploader import DEFAULT_MAX_POST, plan_posts
from paimon_devtools.bench.plan import Plan, throughput, timed


def crypto_limit(plan: Plan) -> dict[str, object]:
    """One core, in memory: MACs and CTR exactly as the uploader does them."""
    buffer = memoryview(bytearray(os.urandom(DEFAULT_MAX_POST)))
    scratch = mac_scratch()
    key = FileKey.generate()
    posts = plan_posts(plan.crypto_bytes)

    def encrypt() -> None:
        for post in posts:
            seal(key, post.offset, post.chunks, buffer[: post.length], scratch)

    seconds = min(timed(encrypt) for _ in range(3))
    return {
        "library": f"cryptography {version('cryptography')} (OpenSSL)",
        **throughput(plan.crypto_bytes, seconds),
    }
