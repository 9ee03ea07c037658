"""One MEGA session per instance, shared by its workers and kept across restarts.

MEGA blocks accounts that log in too often, and every gunicorn worker used to log in on
its own at each start. The session (``sid`` and master key, as the MEGA SDK's "dump
session" keeps them) now lives in ``<data dir>/mega/session.json``, mode 0600: whoever
holds it holds the account's files, so it is as secret as the password and never logged.
A worker reuses it; only after ``-15`` (ESID), or when the credentials change, does one
worker log in afresh, under an ``fcntl`` lock, and at most once a minute per instance
(a login needed sooner waits for its turn).
The file also records the last login's error code, which ``paimon doctor`` reports.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SESSION_FILE = "session.json"
LOCK_FILE = "login.lock"
#: At most one fresh login per instance in this many seconds, whatever the worker count.
MIN_LOGIN_INTERVAL_SECONDS = 60.0


def session_dir(data_dir: Path) -> Path:
    """Where an instance with this data directory keeps its MEGA session."""
    return data_dir / "mega"


@dataclass(frozen=True)
class SavedSession:
    sid: str
    master_key: tuple[int, ...]


def fingerprint(salt: str, *credentials: str) -> str:
    """A keyed hash that tells whether the credentials changed, without storing them."""
    message = "\0".join(credentials).encode()
    return hmac.new(bytes.fromhex(salt), message, hashlib.sha256).hexdigest()


class SessionStore:
    """The session file and the login lock in ``directory`` (created 0700 on first use)."""

    def __init__(self, directory: Path, min_login_interval: float = MIN_LOGIN_INTERVAL_SECONDS):
        self.directory = directory
        self.min_login_interval = min_login_interval

    @property
    def path(self) -> Path:
        return self.directory / SESSION_FILE

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive across the instance's processes and threads (one open file each)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with (self.directory / LOCK_FILE).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def read(self) -> dict[str, Any]:
        """The file's content; empty if missing or unreadable (then a login replaces it)."""
        try:
            content = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return content if isinstance(content, dict) else {}

    def load(self, credentials: tuple[str, ...]) -> SavedSession | None:
        """The saved session if it was made with these credentials."""
        content = self.read()
        salt, sid, key = content.get("salt"), content.get("sid"), content.get("master_key")
        if not (isinstance(salt, str) and isinstance(sid, str) and isinstance(key, list)):
            return None
        expected = fingerprint(salt, *credentials)
        if not hmac.compare_digest(str(content.get("fingerprint")), expected):
            return None
        return SavedSession(sid, tuple(int(word) for word in key))

    def login_wait(self, credentials: tuple[str, ...]) -> float:
        """Seconds until a fresh login with these credentials is allowed (0: now)."""
        content = self.read()
        salt, attempted = content.get("salt"), content.get("login_at")
        if not (isinstance(salt, str) and isinstance(attempted, (int, float))):
            return 0.0
        if content.get("fingerprint") != fingerprint(salt, *credentials):
            return 0.0  # new credentials: the operator fixed something, try them now
        return max(0.0, attempted + self.min_login_interval - time.time())

    def record(
        self,
        credentials: tuple[str, ...],
        session: SavedSession | None,
        error: int | None = None,
    ) -> None:
        """Write the outcome of a login attempt: the new session, or the error code."""
        salt = secrets.token_hex(16)
        content: dict[str, object] = {
            "salt": salt,
            "fingerprint": fingerprint(salt, *credentials),
            "login_at": time.time(),
            "error": error,
        }
        if session is not None:
            content |= {"sid": session.sid, "master_key": list(session.master_key)}
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # a left-over temporary file keeps its old mode
        with os.fdopen(descriptor, "w") as file:
            json.dump(content, file)
        temporary.replace(self.path)

    def last_error(self) -> int | None:
        """The error code of the last login attempt, if it failed (for ``paimon doctor``)."""
        error = self.read().get("error")
        return error if isinstance(error, int) else None
