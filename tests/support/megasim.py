"""Pytest fixtures that run the MEGA emulator (``paimon.megasim``) as a real subprocess.

Registered as a plugin by tests/conftest.py (``pytest_plugins = ["tests.support.megasim"]``).
The emulator process, its accounts and the stock client come from
``paimon_devtools.megasim`` (shared with scripts/bench, documented there) and are
re-exported here for the tests.

Fixtures
--------
``megasim_server`` (session scope) -> :class:`MegaSim`
    One emulator for the whole run, on 127.0.0.1 with a free port, holding the default
    accounts :data:`V2_EMAIL` / :data:`V2_PASSWORD` (v2 login), :data:`MFA_EMAIL` /
    :data:`MFA_PASSWORD` (v2 with two-factor login, TOTP secret :data:`MFA_SECRET`) and
    :data:`V1_EMAIL` / :data:`V1_PASSWORD` (the old v1 login).
``megasim`` (function scope) -> :class:`MegaSim`
    The same emulator, reset before the test: no faults, no throttle, no files or folders,
    default quotas. Sessions survive, so a client logged in earlier stays logged in. Use
    this one in tests.
``sim`` (module scope) -> :class:`MegaSim`
    An emulator of the test module's own, for modules that start Paimon servers on it
    (a server caches its upload folder, which ``megasim``'s reset would delete).

``MegaSim.start(data_dir, ...)`` starts a dedicated emulator (a context manager) for
tests that need their own accounts or quota; ``stock_mega_client(base_url)`` is an
unmodified mega.py client pointed at one.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
import requests
from mega import Mega
from mega.crypto import base64_url_encode

from paimon_devtools.megasim import (
    MEGASIM_COMMAND,
    MFA_EMAIL,
    MFA_PASSWORD,
    MFA_SECRET,
    V1_EMAIL,
    V1_PASSWORD,
    V2_EMAIL,
    V2_PASSWORD,
    MegaSim,
    stock_mega_client,
    subprocess_env,
)

__all__ = [  # re-exported: what tests import from here
    "MEGASIM_COMMAND",
    "MFA_EMAIL",
    "MFA_PASSWORD",
    "MFA_SECRET",
    "V1_EMAIL",
    "V1_PASSWORD",
    "V2_EMAIL",
    "V2_PASSWORD",
    "MegaSim",
    "stock_mega_client",
    "subprocess_env",
]


def run_megasim(*arguments: str) -> subprocess.CompletedProcess[str]:
    """``python -m paimon.megasim`` with ``arguments``, to its end (a refusal, at once)."""
    command = [*MEGASIM_COMMAND, *arguments]
    return subprocess.run(
        command, capture_output=True, text=True, env=subprocess_env(), timeout=30, check=False
    )


@pytest.fixture(scope="session")
def megasim_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MegaSim]:
    """One emulator process for the whole test session, with the default accounts."""
    with MegaSim.start(tmp_path_factory.mktemp("megasim")) as server:
        yield server


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MegaSim]:
    """An emulator of the test module's own, for the servers of its tests: the session's
    is reset before each test, which would delete the upload folder (and files) those
    servers have cached; and a module may throttle it, break it or fill its account."""
    with MegaSim.start(tmp_path_factory.mktemp("module-megasim")) as started:
        yield started


@pytest.fixture
def megasim(megasim_server: MegaSim) -> MegaSim:
    """The session's emulator, reset so that no earlier test's files or faults leak in."""
    megasim_server.reset()
    return megasim_server


#: The emulator's cheapest useful hashcash proof of work, for the independent clients:
#: about 15 tries of 12 MiB per challenge.
EASINESS = 200

# MEGA's protocol at the HTTP level, for the emulator's own tests.
# Opaque stand-ins for what a client would encrypt: whole AES blocks, so that mega.py's
# get_files() can "decrypt" them (into garbage it then skips) when listing.
ATTRIBUTES = base64_url_encode(bytes(range(16)))

WRAPPED_KEY = base64_url_encode(bytes(range(32)))


def post(url: str, offset: int, body: bytes) -> requests.Response:
    return requests.post(f"{url}/{offset}", data=body, timeout=30)


def upload_url(client: Mega, size: int) -> str:
    return client._api_request({"a": "u", "s": size})["p"]


def upload_ciphertext(client: Mega, data: bytes) -> dict:
    """Upload opaque bytes in one POST and create the file node; the node's JSON."""
    url = upload_url(client, len(data))
    completion_handle = post(url, 0, data).text
    root = client.get_node_by_type(2)[0]
    item = {"h": completion_handle, "t": 0, "a": ATTRIBUTES, "k": WRAPPED_KEY}
    return client._api_request({"a": "p", "t": root, "n": [item]})["f"][0]


def root_of(sim: MegaSim, email: str) -> str:
    """The handle of the account's Cloud Drive, from the emulator's own state."""
    state = sim.state()
    (owner,) = [a["handle"] for a in state["accounts"] if a["email"] == email]
    (root,) = [n["h"] for n in state["nodes"] if n["u"] == owner and n["t"] == 2]
    return root
