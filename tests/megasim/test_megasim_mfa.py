"""Two-factor logins on the emulator: the ``mfa`` code of ``us``, at the HTTP level."""

from __future__ import annotations

import hashlib
import time

import pyotp
import pytest
import requests
from mega.crypto import base64_url_decode, base64_url_encode

from tests.support.megasim import (
    MFA_EMAIL,
    MFA_PASSWORD,
    MFA_SECRET,
    MegaSim,
    run_megasim,
)

STEP = 30


def api(sim: MegaSim, command: dict) -> object:
    return requests.post(f"{sim.url}/cs?id=1", json=[command], timeout=30).json()[0]


def login_command(sim: MegaSim, code: str | None) -> dict:
    """``us`` for the 2FA account as a v2 client builds it, with ``code`` as ``mfa``."""
    salt = base64_url_decode(api(sim, {"a": "us0", "user": MFA_EMAIL})["s"])
    derived = hashlib.pbkdf2_hmac("sha512", MFA_PASSWORD.encode(), salt, 100_000, dklen=32)
    command = {"a": "us", "user": MFA_EMAIL, "uh": base64_url_encode(derived[-16:])}
    return command if code is None else {**command, "mfa": code}


def test_previous_current_and_next_codes_are_accepted(megasim: MegaSim) -> None:
    totp, now = pyotp.TOTP(MFA_SECRET), time.time()
    for moment in (now - STEP, now, now + STEP):
        reply = api(megasim, login_command(megasim, totp.at(moment)))
        assert isinstance(reply, dict) and {"k", "csid", "privk", "u"} <= reply.keys()


def test_missing_old_and_wrong_codes_answer_emfarequired(megasim: MegaSim) -> None:
    totp, now = pyotp.TOTP(MFA_SECRET), time.time()
    valid = {totp.at(now + step * STEP) for step in (-1, 0, 1)}
    old = totp.at(now - 3 * STEP)
    wrong = next(code for code in ("000000", "123456", "999999") if code not in valid)
    logins = megasim.state()["logins"]
    assert api(megasim, login_command(megasim, None)) == -26
    if old not in valid:  # one chance in 10^6 that an old code equals a valid one
        assert api(megasim, login_command(megasim, old)) == -26
    assert api(megasim, login_command(megasim, wrong)) == -26
    assert megasim.state()["logins"] == logins
    accounts = {a["email"]: a for a in megasim.state()["accounts"]}
    assert accounts[MFA_EMAIL]["two_factor"] is True
    assert MFA_SECRET not in requests.get(f"{megasim.url}/_sim/state", timeout=10).text


@pytest.mark.parametrize("secret", ["not base32!", "ABC", "1234"])
def test_a_malformed_totp_secret_is_refused_without_echoing_it(secret: str) -> None:
    result = run_megasim("--account", f"a@example.com:hunter2:totp={secret}")
    assert result.returncode == 2
    assert "not base32" in result.stderr
    assert f"totp={secret}" not in result.stderr and "hunter2" not in result.stderr
