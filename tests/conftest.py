"""What every test gets: a clean environment, the support plugins that start real
servers (tests/support/), and, at the end of the run, a scan of every server log for
the suite's secrets. Helpers live in the support package, never here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from paimon.bootstrap import process
from paimon_devtools.servers import clean_environ
from tests.support.known_secrets import SERVER_LOGS, leaks_in_files

pytest_plugins = [
    "tests.support.servers",
    "tests.support.megasim",
    "tests.support.redis",
    "tests.support.jobstores",
    "tests.support.mega",
    "tests.support.browser",
    "tests.support.webhooks",
    "tests.support.s3",
]


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """In-process Settings see no developer .env and no inherited PAIMON_* variables,
    and no process-wide reading left by another test (paimon/bootstrap/process.py)."""
    for name in set(os.environ) - set(clean_environ()):
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(process, "_settings", None)


@pytest.fixture(scope="session", autouse=True)
def _no_secret_in_any_server_log() -> Iterator[None]:
    """Torn down last: fails the run if any server logged a secret from known_secrets."""
    yield
    found = leaks_in_files(SERVER_LOGS)
    assert not found, "secrets in server logs:\n" + "\n".join(found)
