"""megajs, a second independent MEGA client, run by Node from this folder.

scripts/test installs it (``npm ci`` here, from package.json and package-lock.json);
by hand: ``npm ci --prefix tests/megasim/megajs``. Without node or the installed package the
tests fail, never skip: a skip would hide that the cross-check never ran.

The ``megajs`` fixture starts :class:`~tests.megasim.megajs.client.MegaJs` clients, one megajs
client per Node process, handed steps one at a time (JSON lines), so a test can change
the account between two steps.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.megasim.megajs.client import FOLDER, INSTALLED, LOCKED_VERSION, MegaJs


@pytest.fixture(scope="session")
def node() -> str:
    """Node and the installed megajs of package-lock.json; a failure when missing."""
    executable = shutil.which("node")
    if executable is None:
        pytest.fail("node is not installed: megajs cannot run (scripts/test needs it)")
    if not INSTALLED.is_file():
        pytest.fail(
            f"megajs is not installed in {FOLDER}: run `npm ci --prefix tests/megasim/megajs` "
            "(scripts/test does)",
            pytrace=False,
        )
    installed = json.loads(INSTALLED.read_text())["version"]
    if installed != LOCKED_VERSION:
        pytest.fail(f"megajs {installed} is installed, package-lock.json pins {LOCKED_VERSION}")
    return executable


@pytest.fixture
def megajs(node: str, tmp_path: Path) -> Iterator[Any]:
    """``megajs()`` starts a megajs client; each is closed (logged out) after the test,
    and must exit cleanly."""
    started: list[MegaJs] = []

    def start() -> MegaJs:
        client = MegaJs(node, tmp_path / f"megajs-{len(started)}.log")
        started.append(client)
        return client

    yield start
    statuses = [client.close() for client in started]
    for client, status in zip(started, statuses, strict=True):
        assert status == 0, client.log_path.read_text()
