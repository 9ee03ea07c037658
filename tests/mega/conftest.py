"""Fixtures for the MEGA backend tests: a backend and a stock mega.py on the emulator."""

from __future__ import annotations

import pytest
from mega import Mega

from paimon.bootstrap.wiring import mega_account
from paimon.storage.mega import MegaStorage
from tests.fixtures.megasim import V2_EMAIL, V2_PASSWORD, MegaSim, stock_mega_client
from tests.mega.support import FAST_RETRY, mega_settings


@pytest.fixture
def backend(megasim: MegaSim) -> MegaStorage:
    return MegaStorage(mega_account(mega_settings(megasim)), retry=FAST_RETRY)


@pytest.fixture
def stock(megasim: MegaSim) -> Mega:
    """Stock mega.py, logged in to the emulator: the independent reader."""
    return stock_mega_client(megasim.url).login(V2_EMAIL, V2_PASSWORD)
