"""Logins: two-factor accounts, and the instance's one saved session."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from paimon import doctor
from paimon.bootstrap.wiring import mega_account
from paimon.storage.base import StorageAuthError
from paimon.storage.mega import MegaStorage
from paimon.storage.mega.session import session_dir
from tests.support.mega import FAST_RETRY, download, mega_settings, spool
from tests.support.megasim import MFA_EMAIL, MFA_PASSWORD, MFA_SECRET, V2_PASSWORD, MegaSim

#: A valid base32 secret that is not the account's (fixed: it names a test case, and
#: pytest-xdist's workers must collect the same names).
OTHER_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def mfa_backend(sim: MegaSim, data_dir: Path, secret: str | None) -> MegaStorage:
    settings = mega_settings(
        sim,
        mega_email=MFA_EMAIL,
        mega_password=MFA_PASSWORD,
        mega_totp_secret=secret,
        data_dir=data_dir,
    )
    return MegaStorage(mega_account(settings), retry=FAST_RETRY)


def test_a_2fa_account_uploads_with_its_totp_secret(megasim: MegaSim, tmp_path: Path) -> None:
    backend = mfa_backend(megasim, tmp_path / "data", MFA_SECRET)
    payload = os.urandom(70_000)
    stored = backend.store(spool(tmp_path, payload), "guarded.bin")
    assert download(megasim, stored.link) == payload
    check = doctor.check_mega_login(mega_settings(megasim, data_dir=tmp_path / "data"))
    assert check.ok, check


@pytest.mark.parametrize(
    ("secret", "says"),
    [(None, "set PAIMON_MEGA_TOTP_SECRET"), (OTHER_SECRET, "refused the two-factor code")],
)
def test_a_2fa_account_without_the_right_secret_says_what_is_needed(
    secret: str | None,
    says: str,
    megasim: MegaSim,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data_dir = tmp_path / "data"
    logins = megasim.state()["logins"]
    with (
        caplog.at_level(logging.INFO, logger="paimon.storage.mega"),
        pytest.raises(StorageAuthError, match=says),
    ):
        mfa_backend(megasim, data_dir, secret).check()
    assert megasim.state()["logins"] == logins
    lines = [r.getMessage() for r in caplog.records if "PAIMON_MEGA_TOTP_SECRET" in r.getMessage()]
    assert len(lines) == 1 and says in lines[0]
    assert secret is None or secret not in caplog.text

    settings = mega_settings(
        megasim, mega_email=MFA_EMAIL, mega_totp_secret=secret, data_dir=data_dir
    )
    check = doctor.check_mega_login(settings)
    assert not check.ok and says in check.detail and "PAIMON_MEGA_TOTP_SECRET" in check.detail


def test_doctor_refuses_a_secret_that_is_not_base32(megasim: MegaSim) -> None:
    check = doctor.check_mega_login(mega_settings(megasim, mega_totp_secret="not base32!"))
    assert (check.ok, check.detail) == (False, "PAIMON_MEGA_TOTP_SECRET is not base32")


def test_the_session_is_saved_privately_and_reused(megasim: MegaSim, tmp_path: Path) -> None:
    settings = mega_settings(megasim, data_dir=tmp_path / "data")
    logins = megasim.state()["logins"]
    MegaStorage(mega_account(settings), retry=FAST_RETRY).check()
    saved = session_dir(settings.data_dir) / "session.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert V2_PASSWORD not in saved.read_text()

    for _ in range(3):  # new processes would do the same: nothing is kept in memory
        MegaStorage(mega_account(settings), retry=FAST_RETRY).usage()
    assert megasim.state()["logins"] == logins + 1

    changed = mega_settings(megasim, data_dir=tmp_path / "data", mega_folder="Elsewhere")
    MegaStorage(mega_account(changed), retry=FAST_RETRY).check()  # not a credential: same session
    assert megasim.state()["logins"] == logins + 1


def test_a_refused_login_is_not_repeated_within_the_minute(
    megasim: MegaSim, tmp_path: Path
) -> None:
    settings = mega_settings(megasim, mega_password="wrong", data_dir=tmp_path / "data")
    logins_refused = []
    for _ in range(3):
        with pytest.raises(StorageAuthError, match="PAIMON_MEGA_PASSWORD"):
            MegaStorage(mega_account(settings), retry=FAST_RETRY).check()
        logins_refused.append(megasim.log().count("api us0\n"))
    assert logins_refused[0] >= 1 and logins_refused == [logins_refused[0]] * 3
    fixed = mega_settings(megasim, data_dir=tmp_path / "data")  # new credentials: at once
    MegaStorage(mega_account(fixed), retry=FAST_RETRY).check()
