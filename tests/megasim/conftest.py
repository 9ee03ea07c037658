"""Clients shared by the megasim tests (the emulator fixtures live in tests.support.megasim)."""

from __future__ import annotations

import pytest
from mega import Mega

from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim, stock_mega_client


@pytest.fixture
def v2_client(megasim: MegaSim) -> Mega:
    """A stock mega.py client logged in to the default v2 account."""
    return stock_mega_client(megasim.url).login(V2_EMAIL, V2_PASSWORD)
