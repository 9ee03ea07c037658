"""Servers for the newcomer layer: the README's serve command in a fresh clone (built
once per session, served once per module), and, started only when an example needs
them, servers with tokens and with MEGA (the emulator)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.support.known_secrets import ADMIN_TOKEN, TOKEN
from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from tests.support.newcomer import ServerFor, clone_repository, serve
from tests.support.servers import ServerProcess, start_server

# What the docs' examples and the clone need besides Python.
TOOLS = ("git", "curl", "jq", "tar", "base64")


@pytest.fixture(scope="session")
def fresh_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of the repository, shared by the session: its .venv is built once."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"the newcomer tests run {' and '.join(missing)}: apt-get install them")
    return clone_repository(tmp_path_factory.mktemp("fresh-clone"))


@pytest.fixture(scope="module")
def fresh_server(
    fresh_clone: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The README's serve command in the fresh clone, no settings but the port.

    One per test module, so each starts with empty rate-limit buckets: by default a
    client address may start 60 uploads a minute, and every request here comes from
    127.0.0.1. Only the first start builds .venv.
    """
    server = serve(fresh_clone, tmp_path_factory.mktemp("serve"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server_for(
    fresh_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerFor]:
    """The server an example needs, started on first use and kept for the module.

    MEGA runs on a dedicated emulator: the shared one is reset between tests, which
    would delete the upload folder the server has cached.
    """
    started: dict[tuple[bool, bool], ServerProcess] = {(False, False): fresh_server}
    with ExitStack() as stack:

        def get(tokens: bool, mega: bool) -> ServerProcess:
            if (tokens, mega) not in started:
                # With tokens, an owner's too: the console's examples (ADMIN_TOKEN).
                settings = {"auth_tokens": TOKEN, "admin_tokens": ADMIN_TOKEN} if tokens else {}
                if mega:
                    sim = MegaSim.start(tmp_path_factory.mktemp("newcomer-megasim"))
                    stack.callback(sim.stop)
                    settings |= {
                        "mega_api_url": sim.url,
                        "mega_email": V2_EMAIL,
                        "mega_password": V2_PASSWORD,
                    }
                server = start_server(tmp_path_factory.mktemp("newcomer-server"), **settings)
                stack.callback(server.stop)
                started[tokens, mega] = server
            return started[tokens, mega]

        yield get
