"""Pytest fixtures that run a real ``redis-server`` (the Debian package) on 127.0.0.1.

Registered as a plugin by tests/conftest.py (``pytest_plugins``); before that, pass
``-p tests.support.redis`` to pytest. The server itself is ``paimon_devtools.redis``
(shared with scripts/bench), re-exported here for the tests.

Fixtures
--------
``redis_server`` (session scope) -> :class:`RedisServer`
    One server for the whole run, on a free port, with no persistence and no password.
``redis_db`` (function scope) -> :class:`RedisServer`
    The same server with its database flushed before the test. Use this one in tests.

:class:`RedisServer`
    ``.url`` (``redis://127.0.0.1:<port>/0``), ``.port``, ``.client()`` a fresh
    ``redis.Redis`` on it, ``.flushdb()``, ``.log()`` the server's log so far;
    ``RedisServer.start(data_dir, password=None)`` a dedicated server (a context
    manager; ``.stop()`` ends it), e.g. one that requires a password.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from paimon_devtools.redis import RedisMissing, RedisServer

__all__ = ["RedisServer"]  # re-exported: what tests import from here


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    try:
        server = RedisServer.start(tmp_path_factory.mktemp("redis"))
    except RedisMissing as missing:
        pytest.fail(str(missing), pytrace=False)
    with server:
        yield server


@pytest.fixture
def redis_db(redis_server: RedisServer) -> RedisServer:
    redis_server.flushdb()
    return redis_server
