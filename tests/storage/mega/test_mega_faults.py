"""The MEGA backend under injected faults: transient ones end in success, the rest in
clear, typed errors."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from paimon.bootstrap.wiring import mega_account
from paimon.config import Settings
from paimon.storage.base import QuotaExceeded, StorageAuthError, StorageError, StorageUnavailable
from paimon.storage.mega import MegaStorage
from tests.support.mega import FAST_RETRY, download, mega_settings, spool
from tests.support.megasim import V2_EMAIL, MegaSim
from tests.support.uploads import MIB

#: Several POSTs of several chunks each, with an odd tail.
SIZE = 3 * MIB + 11


def store_and_verify(backend: MegaStorage, sim: MegaSim, tmp_path: Path) -> None:
    payload = os.urandom(SIZE)
    stored = backend.store(spool(tmp_path, payload), "f.bin")
    assert download(sim, stored.link) == payload


@pytest.fixture
def logged_in(megasim: MegaSim) -> MegaStorage:
    """A backend whose login and folder lookup are done, so faults hit the upload; fresh
    logins are not spaced out (test_a_second_login_within_the_interval_waits... covers it)."""
    backend = MegaStorage(
        mega_account(mega_settings(megasim)),
        retry=FAST_RETRY,
        max_post_bytes=MIB,
        min_login_interval=0,
    )
    backend.check()
    return backend


@pytest.mark.parametrize("code", [-3, -4, -6, -18, -19])
def test_transient_api_errors_are_retried(
    code: int, logged_in: MegaStorage, megasim: MegaSim, tmp_path: Path
) -> None:
    megasim.fault("api", code, count=3)
    store_and_verify(logged_in, megasim, tmp_path)
    assert megasim.state()["faults"] == []


@pytest.mark.parametrize("error", ["http500", "drop"])
def test_api_http_failures_are_retried(
    error: str, logged_in: MegaStorage, megasim: MegaSim, tmp_path: Path
) -> None:
    megasim.fault("api", error, count=2)
    store_and_verify(logged_in, megasim, tmp_path)
    assert megasim.state()["faults"] == []  # both failed requests were sent again


def test_transient_errors_during_login_are_retried(megasim: MegaSim, tmp_path: Path) -> None:
    logins = megasim.state()["logins"]
    megasim.fault("api", -3, count=2)
    backend = MegaStorage(mega_account(mega_settings(megasim)), retry=FAST_RETRY)
    store_and_verify(backend, megasim, tmp_path)
    state = megasim.state()
    assert state["faults"] == []  # the login's first two requests failed
    assert state["logins"] == logins + 1  # and it logged in, once


def test_expired_session_logs_in_again_once(
    logged_in: MegaStorage, megasim: MegaSim, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sessions = megasim.state()["sessions"]
    megasim.fault("api", -15)
    with caplog.at_level(logging.INFO, logger="paimon.storage.mega"):
        store_and_verify(logged_in, megasim, tmp_path)
    assert "session expired" in caplog.text
    assert megasim.state()["sessions"] == sessions + 1


def test_ended_sessions_are_replaced(
    logged_in: MegaStorage, megasim: MegaSim, tmp_path: Path
) -> None:
    logins = megasim.state()["logins"]
    megasim.reset(nodes=False, sessions=True)  # every session id is now invalid
    assert megasim.state()["sessions"] == 0
    store_and_verify(logged_in, megasim, tmp_path)
    assert megasim.state()["logins"] == logins + 1  # the ended session was replaced


def test_deleted_folder_is_created_again(
    logged_in: MegaStorage, megasim: MegaSim, tmp_path: Path
) -> None:
    megasim.reset(nodes=True)  # the cached folder handle now names nothing
    assert not [n for n in megasim.state()["nodes"] if n["t"] == 1]
    store_and_verify(logged_in, megasim, tmp_path)
    assert [n["a"] for n in megasim.state()["nodes"] if n["t"] == 1]


def test_a_second_login_within_the_interval_waits_for_its_turn(
    megasim: MegaSim, tmp_path: Path
) -> None:
    interval = 2.0
    # The upload folder made first, so check() below is a login and a listing (creating
    # a folder waits out MEGA's second, docs/mega.md, which would hide the wait here).
    MegaStorage(mega_account(mega_settings(megasim)), min_login_interval=0).check()
    backend = MegaStorage(
        mega_account(mega_settings(megasim)), retry=FAST_RETRY, min_login_interval=interval
    )
    backend.check()
    started, logins = time.monotonic(), megasim.state()["logins"]
    megasim.fault("api", -15)
    store_and_verify(backend, megasim, tmp_path)
    assert time.monotonic() - started >= interval * 0.9
    assert megasim.state()["logins"] == logins + 1


def test_session_refused_twice_is_retryable_and_a_retry_works(
    logged_in: MegaStorage, megasim: MegaSim
) -> None:
    """Issue 16: it was a permanent failure (retryable: false), though a retry works."""
    megasim.fault("api", -15, count=2)
    with pytest.raises(StorageUnavailable) as raised:
        logged_in.usage()
    assert raised.value.retryable is True
    assert "ESID" in raised.value.message
    assert logged_in.usage().total_bytes > 0  # the retry, on the session logged in anew


@pytest.mark.parametrize("error", ["http500", "drop", -3, -4, -6, -18, -19])
def test_failed_upload_ranges_are_retried(
    error: int | str, logged_in: MegaStorage, megasim: MegaSim, tmp_path: Path
) -> None:
    megasim.fault("upload", error, count=2)
    store_and_verify(logged_in, megasim, tmp_path)
    assert megasim.state()["faults"] == []


def test_expired_upload_url_restarts_with_a_new_one(
    logged_in: MegaStorage, megasim: MegaSim, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    megasim.fault("upload", -8)
    reports: list[int] = []
    payload = os.urandom(SIZE)
    with caplog.at_level(logging.INFO, logger="paimon.storage.mega"):
        stored = logged_in.store(spool(tmp_path, payload), "f.bin", reports.append)
    assert "expired" in caplog.text
    assert download(megasim, stored.link) == payload
    assert reports == sorted(set(reports))
    assert reports[-1] == SIZE


def test_upload_url_that_keeps_expiring_gives_up(
    logged_in: MegaStorage, megasim: MegaSim, tmp_path: Path
) -> None:
    megasim.fault("upload", -8, count=10)
    with pytest.raises(StorageUnavailable):
        logged_in.store(spool(tmp_path, b"data"), "f.bin")
    (left,) = megasim.state()["faults"]
    assert left["count"] < 10  # the URL expired, more than once, before it gave up


def test_persistent_transient_errors_become_unavailable(
    logged_in: MegaStorage, megasim: MegaSim, tmp_path: Path
) -> None:
    megasim.fault("upload", "http500", count=FAST_RETRY.attempts)
    source = spool(tmp_path, b"data")
    with pytest.raises(StorageUnavailable) as raised:
        logged_in.store(source, "f.bin")
    assert raised.value.retryable
    assert "try again" in raised.value.message
    assert source.read_bytes() == b"data"
    assert megasim.state()["faults"] == []  # every attempt met the fault


def test_unreachable_mega_is_unavailable(megasim: MegaSim) -> None:
    # Port 9 (discard) on 127.0.0.1: nothing listens, the connection is refused.
    settings = mega_settings(megasim, mega_api_url="http://127.0.0.1:9")
    with pytest.raises(StorageUnavailable):
        MegaStorage(mega_account(settings), retry=FAST_RETRY).check()


def test_over_quota_is_a_clear_error_and_keeps_the_spool_file(
    logged_in: MegaStorage, megasim: MegaSim, tmp_path: Path
) -> None:
    used = logged_in.usage().used_bytes
    megasim.set_quota(V2_EMAIL, used + 100)
    payload = os.urandom(1000)
    source = spool(tmp_path, payload)
    with pytest.raises(QuotaExceeded) as raised:
        logged_in.store(source, "big.bin")
    assert "out of storage space" in raised.value.message
    assert not raised.value.retryable
    assert source.read_bytes() == payload


def test_wrong_password_is_an_auth_error_without_the_password(megasim: MegaSim) -> None:
    password = "not-the-password-4711"
    backend = MegaStorage(
        mega_account(mega_settings(megasim, mega_password=password)), retry=FAST_RETRY
    )
    with pytest.raises(StorageAuthError) as raised:
        backend.check()
    assert "e-mail or password" in raised.value.message
    chain = [raised.value, raised.value.__cause__, raised.value.__context__]
    assert all(password not in str(exc) for exc in chain if exc)
    assert password not in repr(vars(backend._client))


def test_unknown_account_is_an_auth_error(megasim: MegaSim) -> None:
    settings = mega_settings(megasim, mega_email="nobody@example.com")
    with pytest.raises(StorageAuthError):
        MegaStorage(mega_account(settings), retry=FAST_RETRY).check()


def test_missing_credentials_are_reported_at_construction() -> None:
    with pytest.raises(StorageAuthError) as raised:
        MegaStorage(mega_account(Settings(mega_email="a@example.com")))
    assert "PAIMON_MEGA_PASSWORD" in raised.value.message


@pytest.mark.parametrize(
    ("code", "error", "words"),
    [
        (-17, QuotaExceeded, "out of storage space"),
        (-11, StorageError, "denied access"),
        (-16, StorageAuthError, "blocked"),
        (-2, StorageError, "EARGS"),
    ],
)
def test_permanent_api_errors_are_not_retried(
    code: int,
    error: type[StorageError],
    words: str,
    logged_in: MegaStorage,
    megasim: MegaSim,
    tmp_path: Path,
) -> None:
    megasim.fault("api", code, count=2)
    with pytest.raises(error) as raised:
        logged_in.store(spool(tmp_path, b"data"), "f.bin")
    assert words in raised.value.message
    # The fault struck, and only once: a permanent error is not sent again.
    assert megasim.state()["faults"] == [{"target": "api", "error": code, "count": 1}]
    assert not raised.value.retryable
    assert megasim.state()["faults"][0]["count"] == 1  # one attempt, no retry
