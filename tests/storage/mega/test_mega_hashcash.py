"""The MEGA client answers the emulator's HTTP 402 proof-of-work challenges."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from paimon.bootstrap.wiring import mega_account
from paimon.observability.metrics import PROCESS_REGISTRY
from paimon.storage.base import StorageUnavailable
from paimon.storage.mega import MegaStorage
from paimon.storage.mega.client import MegaClient
from paimon.storage.mega.errors import storage_error
from paimon.storage.mega.hashcash import HashcashError
from tests.support.mega import FAST_RETRY, download, mega_settings, spool
from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim


def solved_challenges() -> float:
    value = PROCESS_REGISTRY.get_sample_value(
        "paimon_mega_hashcash_challenges_total", {"outcome": "solved"}
    )
    return value or 0.0


@pytest.mark.parametrize("all_requests", [False, True])
def test_upload_when_every_login_needs_a_proof_of_work(
    all_requests: bool, megasim: MegaSim, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    megasim.hashcash(200, all_requests=all_requests)
    backend = MegaStorage(mega_account(mega_settings(megasim)), retry=FAST_RETRY)
    payload = os.urandom(300_000)
    before = solved_challenges()

    with caplog.at_level(logging.INFO, logger="paimon.storage.mega"):
        stored = backend.store(spool(tmp_path, payload), "proof.bin")

    state = megasim.state()["hashcash"]
    megasim.hashcash(None)  # the test's own reader does not answer challenges
    assert download(megasim, stored.link) == payload
    assert state["solutions_accepted"] == state["challenges_issued"] >= 2  # us0 and us
    assert solved_challenges() - before == state["solutions_accepted"]
    lines = [r.getMessage() for r in caplog.records if "proof of work" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("The MEGA login needed a proof of work")
    # The challenge tokens never reach the log.
    assert not any(
        ":" in word and len(word) > 60 for r in caplog.records for word in r.getMessage().split()
    )


def test_an_unsolvable_challenge_fails_in_bounded_time(megasim: MegaSim) -> None:
    megasim.hashcash(0)  # threshold 8: about 2^29 tries of 12 MiB each
    client = MegaClient(
        megasim.url, V2_EMAIL, SecretStr(V2_PASSWORD), retry=FAST_RETRY, hashcash_budget=1.0
    )
    started = time.monotonic()
    with pytest.raises(HashcashError) as raised:
        client.ensure_login()
    assert time.monotonic() - started < 5
    assert isinstance(storage_error(raised.value), StorageUnavailable)
    assert "proof of work (hashcash, easiness 0)" in str(storage_error(raised.value))
    assert PROCESS_REGISTRY.get_sample_value(
        "paimon_mega_hashcash_challenges_total", {"outcome": "failed"}
    )
