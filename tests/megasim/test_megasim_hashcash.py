"""The emulator's HTTP 402 hashcash challenges, driven at the HTTP level."""

from __future__ import annotations

import hashlib

import pytest
import requests
from mega.crypto import base64_url_decode, base64_url_encode

from paimon.storage.mega import hashcash
from tests.support.megasim import V2_EMAIL, MegaSim

PRELOGIN = [{"a": "us0", "user": V2_EMAIL}]
#: From the MEGA SDK's tests/unit/hashcash_test.cpp.
SDK_TOKEN = "wFqIT_wY3tYKcrm5zqwaUoWym3ZCz32cCsrJOgYBgihtpaWUhGyWJ--EY-zfwI-i"


def api(sim: MegaSim, commands: list[dict], answer: str | None = None) -> requests.Response:
    headers = {"X-Hashcash": answer} if answer else {}
    return requests.post(f"{sim.url}/cs?id=1", json=commands, headers=headers, timeout=30)


def solved(response: requests.Response) -> str:
    """The answer header to the challenge ``response`` carries."""
    challenge = hashcash.Challenge.parse(response.headers["X-Hashcash"])
    return hashcash.answer_header(challenge.token, hashcash.solve(challenge))


def test_known_answer_of_the_solver() -> None:
    # Thresholds as the SDK's thresholdFromEasiness computes them.
    assert [hashcash.threshold(e) for e in (0, 63, 64, 192, 200, 255)] == [
        8,
        127 << 3,
        1 << 10,
        1 << 24,
        17 << 24,
        127 << 24,
    ]
    # The first big-endian nonce that satisfies easiness 192, counting from 0 on one worker.
    challenge = hashcash.Challenge(192, "0", SDK_TOKEN)
    assert hashcash.solve(challenge, workers=1) == "AAABJw"
    # The same fact from hashlib directly, on the buffer spelt out.
    token = base64_url_decode(SDK_TOKEN)
    for nonce, accepted in ((0x127, True), (0x126, False)):
        digest = hashlib.sha256(nonce.to_bytes(4, "big") + token * 262_144).digest()
        assert (int.from_bytes(digest[:4], "big") <= 1 << 24) is accepted
        prefix = base64_url_encode(nonce.to_bytes(4, "big"))
        assert hashcash.is_valid(SDK_TOKEN, 192, prefix) is accepted


def test_solving_is_bounded_in_time() -> None:
    impossible = hashcash.Challenge(0, "0", SDK_TOKEN)  # threshold 8: ~2^29 tries expected
    with pytest.raises(hashcash.HashcashError, match=r"easiness 0\).*within 0\.5 s"):
        hashcash.solve(impossible, budget_seconds=0.5)


def test_login_commands_get_a_challenge_until_solved(megasim: MegaSim) -> None:
    assert megasim.hashcash(200) == {
        "easiness": 200,
        "all": False,
        "challenges_issued": 0,
        "solutions_accepted": 0,
    }
    first = api(megasim, PRELOGIN)
    assert first.status_code == 402
    version, easiness, timestamp, token = first.headers["X-Hashcash"].split(":")
    assert (version, easiness, timestamp.isdigit()) == ("1", "200", True)
    assert len(base64_url_decode(token)) == 48
    assert api(megasim, PRELOGIN).headers["X-Hashcash"] != first.headers["X-Hashcash"]

    answered = api(megasim, PRELOGIN, solved(first))
    assert answered.status_code == 200 and answered.json()[0]["v"] == 2
    # Other commands need no proof in login mode.
    assert api(megasim, [{"a": "uq"}]).json() == [-15]
    assert megasim.state()["hashcash"]["solutions_accepted"] == 1


def test_reused_forged_and_stale_answers_are_refused(megasim: MegaSim) -> None:
    megasim.hashcash(200)
    challenge = api(megasim, PRELOGIN)
    answer = solved(challenge)
    assert api(megasim, PRELOGIN, answer).status_code == 200
    assert api(megasim, PRELOGIN, answer).status_code == 402  # reused

    token = base64_url_encode(bytes(48))  # never issued
    forged = hashcash.answer_header(token, hashcash.solve(hashcash.Challenge(200, "0", token)))
    assert api(megasim, PRELOGIN, forged).status_code == 402

    issued = hashcash.Challenge.parse(api(megasim, PRELOGIN).headers["X-Hashcash"])
    wrong = next(  # an issued token with a prefix that does not satisfy it
        prefix
        for prefix in (base64_url_encode(n.to_bytes(4, "big")) for n in range(100))
        if not hashcash.is_valid(issued.token, 200, prefix)
    )
    assert api(megasim, PRELOGIN, hashcash.answer_header(issued.token, wrong)).status_code == 402
    assert api(megasim, PRELOGIN, "1:garbage").status_code == 402

    stale = api(megasim, PRELOGIN)
    megasim.hashcash(200)  # reconfiguring forgets outstanding challenges
    assert api(megasim, PRELOGIN, solved(stale)).status_code == 402


def test_all_mode_challenges_every_request_and_off_ends_it(megasim: MegaSim) -> None:
    megasim.hashcash(220, all_requests=True)
    challenged = api(megasim, [{"a": "uq"}])
    assert challenged.status_code == 402
    assert api(megasim, [{"a": "uq"}], solved(challenged)).json() == [-15]
    assert megasim.state()["hashcash"]["all"] is True

    megasim.hashcash(None)
    assert api(megasim, [{"a": "uq"}]).status_code == 200
    assert api(megasim, PRELOGIN).status_code == 200
    assert megasim.state()["hashcash"]["easiness"] is None


@pytest.mark.parametrize(
    "payload", [{"easiness": 256}, {"easiness": "1"}, {"easiness": 1, "all": 1}]
)
def test_bad_hashcash_controls_are_refused(megasim: MegaSim, payload: dict) -> None:
    response = requests.post(f"{megasim.url}/_sim/hashcash", json=payload, timeout=10)
    assert response.status_code == 400
