"""Opt-in: one upload to the real MEGA, read back with stock mega.py (see docs/mega.md).

Runs only with ``pytest -m live`` and PAIMON_LIVE_MEGA_EMAIL / PAIMON_LIVE_MEGA_PASSWORD
set. It uploads into PAIMON_LIVE_MEGA_FOLDER (default "Paimon-live-test", created if
missing) and deletes the file afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mega import Mega

from paimon.bootstrap.wiring import mega_account
from paimon.config import Settings
from paimon.storage.mega import MegaStorage
from tests.support.mega import legacy_link

pytestmark = pytest.mark.live

# Read at import: tests/conftest.py removes every PAIMON_* variable before each test.
EMAIL = os.environ.get("PAIMON_LIVE_MEGA_EMAIL")
PASSWORD = os.environ.get("PAIMON_LIVE_MEGA_PASSWORD")
FOLDER = os.environ.get("PAIMON_LIVE_MEGA_FOLDER", "Paimon-live-test")


@pytest.mark.skipif(
    not (EMAIL and PASSWORD),
    reason="set PAIMON_LIVE_MEGA_EMAIL and PAIMON_LIVE_MEGA_PASSWORD to run",
)
def test_upload_to_real_mega_reads_back_with_stock_megapy(tmp_path: Path) -> None:
    payload = os.urandom(300_000)  # three MEGA chunks, the last one partial
    source = tmp_path / "paimon-live.bin"
    source.write_bytes(payload)
    backend = MegaStorage(
        mega_account(Settings(mega_email=EMAIL, mega_password=PASSWORD, mega_folder=FOLDER))
    )
    backend.check()

    stored = backend.store(source, source.name)

    stock = Mega().login(EMAIL, PASSWORD)
    try:
        assert stored.link.startswith("https://mega.nz/file/")
        assert stored.size == len(payload)
        downloads = tmp_path / "downloads"
        downloads.mkdir()
        downloaded = stock.download_url(legacy_link(stored.link), dest_path=str(downloads))
        assert Path(downloaded).read_bytes() == payload
        usage = backend.usage()
        assert usage.used_bytes >= len(payload)
    finally:
        stock.destroy(stored.key)
