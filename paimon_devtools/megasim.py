"""The MEGA emulator (``python -m paimon.megasim``) as a real subprocess, its test
accounts, and a stock mega.py client aimed at it: for the tests and the benchmark.

:class:`MegaSim`
    ``.url`` base URL without a trailing slash (the API is ``.url + "/cs"``);
    ``.accounts`` email -> password of every account (v1 ones too);
    ``.fault(target, error, count=1)`` queue a fault: target "api" | "upload" | "download",
    error a negative MEGA code (e.g. -3, -8, -17), "http500" or "drop";
    ``.throttle(bytes_per_second)`` limit upload bodies (0 lifts it);
    ``.network(latency_ms=0, connection_bytes_per_second=0, bytes_per_second=0)`` a
    long path: a delay before each answer, upload bodies capped per connection and in all;
    ``.hashcash(easiness, all_requests=False)`` demand a proof of work (HTTP 402) for
    logins, or every ``/cs`` request; ``None`` turns it off (so does ``reset``);
    ``.set_quota(email, quota_bytes)``; ``.reset(nodes=True, quotas=True, sessions=False)``;
    ``.keep_ciphertext(keep)`` whether upload bodies are stored or only read and checked;
    ``.state()`` the ``/_sim/state`` JSON; ``.log()`` the emulator's stderr so far;
    ``.data_dir`` its data directory (ciphertext lives in ``megasim-blobs/`` below it);
    ``MegaSim.start(data_dir, accounts=..., v1_accounts=..., totp=..., quota_bytes=None)``
    (``totp``: email -> base32 secret of the accounts with 2FA) starts an emulator (a
    context manager; ``.stop()`` ends it) holding, by default, the accounts
    :data:`V2_EMAIL` / :data:`V2_PASSWORD` (v2 login), :data:`MFA_EMAIL` /
    :data:`MFA_PASSWORD` (v2 with two-factor login, TOTP secret :data:`MFA_SECRET`) and
    :data:`V1_EMAIL` / :data:`V1_PASSWORD` (the old v1 login).

``stock_mega_client(base_url) -> mega.Mega``
    An unmodified mega.py client whose requests go to the emulator at ``base_url``.
    Use it to log in, download and MAC-check what Paimon uploaded. mega.py parses the
    ``https://mega.nz/file/<handle>#<key>`` link form with a regex that misses handles
    containing "-" (about one in eight), so hand ``download_url`` the legacy form
    ``https://mega.nz/#!<handle>!<key>``.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import requests
from mega import Mega

from paimon_devtools.processes import StopsOnExit, terminate
from paimon_devtools.servers import REPO_ROOT

V2_EMAIL, V2_PASSWORD = "user@example.com", "correct horse"
V1_EMAIL, V1_PASSWORD = "old@example.com", "legacy"
MFA_EMAIL, MFA_PASSWORD = "guarded@example.com", "two factors"
MFA_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 (a test account's, public)
LISTENING_PREFIX = "megasim listening on "
STARTUP_TIMEOUT_SECONDS = 30
LOG_NAME = "megasim.log"  # the emulator's stderr, in its data directory
MEGASIM_COMMAND = (sys.executable, "-m", "paimon.megasim")


def subprocess_env() -> dict[str, str]:
    """The environment to run MEGASIM_COMMAND with: PYTHONPATH makes the subprocess run
    this source tree rather than a copy installed in the virtualenv."""
    python_path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": python_path}


def stock_mega_client(base_url: str) -> Mega:
    """A stock ``mega.Mega`` talking to ``base_url`` instead of MEGA.

    mega.py builds its API URL as ``f"{schema}://g.api.{domain}/cs"`` and its links as
    ``f"{schema}://{domain}/#!..."``. Nothing is overridden or patched: we only set the
    two public attributes, choosing ``domain = "megasim@<host:port>"`` so that the
    ``g.api.`` prefix mega.py insists on lands in the URL's userinfo part
    (``http://g.api.megasim@127.0.0.1:PORT/cs``), which HTTP ignores for routing. The
    price is a harmless ``Authorization: Basic`` header the emulator never reads. Upload
    and download URLs need no redirection: the emulator hands them out itself.
    """
    parts = urlsplit(base_url)
    client = Mega()
    client.schema = parts.scheme
    client.domain = f"megasim@{parts.netloc}{parts.path.rstrip('/')}"
    return client


class MegaSim(StopsOnExit):
    """A running emulator process and the controls tests use to steer it."""

    def __init__(
        self,
        process: subprocess.Popen[str],
        url: str,
        accounts: dict[str, str],
        data_dir: Path,
    ):
        self.process = process
        self.url = url
        self.accounts = accounts
        self.data_dir = data_dir
        self.log_path = data_dir / LOG_NAME
        self._http = requests.Session()
        self._http.trust_env = False  # never send control requests through a proxy

    @classmethod
    def start(
        cls,
        data_dir: Path,
        accounts: dict[str, str] | None = None,
        v1_accounts: dict[str, str] | None = None,
        totp: dict[str, str] | None = None,
        quota_bytes: int | None = None,
    ) -> MegaSim:
        """Start ``python -m paimon.megasim`` on a free port and wait for it to listen."""
        if accounts is None:
            accounts = {V2_EMAIL: V2_PASSWORD, MFA_EMAIL: MFA_PASSWORD}
            totp = {MFA_EMAIL: MFA_SECRET, **(totp or {})}
        v1_accounts = {V1_EMAIL: V1_PASSWORD} if v1_accounts is None else v1_accounts
        secrets = totp or {}
        command = [*MEGASIM_COMMAND, "--port", "0", "--data-dir", str(data_dir)]
        for option, table in (("--account", accounts), ("--v1-account", v1_accounts)):
            for email, password in table.items():
                suffix = f":totp={secrets[email]}" if email in secrets else ""
                command += [option, f"{email}:{password}{suffix}"]
        if quota_bytes is not None:
            command += ["--quota-bytes", str(quota_bytes)]
        log_path = data_dir / LOG_NAME
        with log_path.open("w") as log:
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=log, text=True, env=subprocess_env()
            )
        url = cls._await_listening_line(process, log_path)
        return cls(process, url, {**accounts, **v1_accounts}, data_dir)

    @staticmethod
    def _await_listening_line(process: subprocess.Popen[str], log_path: Path) -> str:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], STARTUP_TIMEOUT_SECONDS)
        line = process.stdout.readline() if ready else ""
        if not line.startswith(LISTENING_PREFIX):
            process.kill()
            process.wait()
            raise RuntimeError(f"megasim did not start: {line!r}\n{log_path.read_text()}")
        return line.removeprefix(LISTENING_PREFIX).strip()

    def _control(self, name: str, payload: dict[str, object]) -> dict[str, object]:
        response = self._http.post(f"{self.url}/_sim/{name}", json=payload, timeout=10)
        response.raise_for_status()
        return response.json()

    def fault(self, target: str, error: int | str, count: int = 1) -> None:
        """Make the next ``count`` requests to ``target`` fail with ``error``."""
        self._control("faults", {"target": target, "error": error, "count": count})

    def pause(self, action: str, seconds: float) -> dict[str, object]:
        """Carry out the next API request with ``action``, then hold its answer."""
        return self._control("pause", {"action": action, "seconds": seconds})

    def throttle(self, bytes_per_second: int) -> None:
        self._control("throttle", {"bytes_per_second": bytes_per_second})

    def network(
        self, latency_ms: int = 0, connection_bytes_per_second: int = 0, bytes_per_second: int = 0
    ) -> dict[str, object]:
        """Shape the path to the emulator as ``/_sim/network`` does (0 lifts a limit)."""
        return self._control(
            "network",
            {
                "latency_ms": latency_ms,
                "connection_bytes_per_second": connection_bytes_per_second,
                "bytes_per_second": bytes_per_second,
            },
        )

    def hashcash(self, easiness: int | None, all_requests: bool = False) -> dict[str, object]:
        """Make logins (or, with ``all_requests``, every API request) prove work."""
        return self._control("hashcash", {"easiness": easiness, "all": all_requests})

    def set_quota(self, email: str, quota_bytes: int) -> None:
        self._control("quota", {"email": email, "bytes": quota_bytes})

    def reset(self, *, nodes: bool = True, quotas: bool = True, sessions: bool = False) -> None:
        """Clear faults and network shaping, and by default every file, folder and quota change."""
        self._control("reset", {"nodes": nodes, "quotas": quotas, "sessions": sessions})

    def keep_ciphertext(self, keep: bool) -> None:
        """Store upload bodies (the default), or only read and check them."""
        self._control("ciphertext", {"keep": keep})

    def state(self) -> dict[str, object]:
        response = self._http.get(f"{self.url}/_sim/state", timeout=10)
        response.raise_for_status()
        return response.json()

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        """Terminate the emulator (SIGTERM, then SIGKILL after 10 s); its exit code."""
        self._http.close()
        code = terminate(self.process, grace_seconds=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code
