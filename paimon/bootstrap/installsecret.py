"""The install's own secret: 32 random bytes in ``<data>/install-secret`` (mode 0600).

It keys the HMACs that stand for bearer secrets where they must be named without being
given away: job ids and download keys in log lines, tokens in the rate limiter's keys
(its log lines and Redis). A plain hash of a token would let whoever reads a log test
guesses offline; an HMAC under a key they do not hold does not. Kept in the data
directory, so every worker and every instance sharing it computes the same references.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FILENAME = "install-secret"
SIZE = 32


def install_secret(data_dir: Path) -> bytes:
    """The secret, created on first use. Workers starting together race for it: each
    writes a candidate of its own, and ``os.link`` (which never replaces a file) lets
    exactly one become the secret, so no worker reads a half-written one."""
    path = data_dir / FILENAME
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        candidate = data_dir / f".{FILENAME}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(secrets.token_bytes(SIZE))
                file.flush()
                os.fsync(file.fileno())
            os.link(candidate, path)
        except FileExistsError:
            pass  # another worker's candidate won
        finally:
            candidate.unlink(missing_ok=True)
    secret = path.read_bytes()
    if len(secret) < SIZE:
        raise RuntimeError(f"{path} is shorter than {SIZE} bytes: delete it to make a new one")
    return secret
