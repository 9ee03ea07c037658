"""The ``store`` fixture: every job store test runs against SQLite and a real Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from paimon.jobs.store import JobStore
from tests.jobs.support import StoreSpec


@pytest.fixture(params=["sqlite", "redis"])
def store_spec(request: pytest.FixtureRequest, tmp_path) -> StoreSpec:
    """A fresh, empty store of each kind (Redis: the test server, flushed)."""
    if request.param == "redis":
        return StoreSpec("redis", request.getfixturevalue("redis_db").url)
    return StoreSpec("sqlite", str(tmp_path / "jobs.sqlite3"))


@pytest.fixture
def store(store_spec: StoreSpec) -> Iterator[JobStore]:
    store = store_spec.open()
    yield store
    store.close()


@pytest.fixture
def autoclose() -> Iterator[Callable[[JobStore], JobStore]]:
    """``autoclose(store)`` is the store, closed at teardown (no unclosed warnings)."""
    stores: list[JobStore] = []
    yield lambda store: stores.append(store) or store
    for store in stores:
        store.close()
