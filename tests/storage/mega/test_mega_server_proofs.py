"""A freshly started Paimon server uploads to an emulator that demands a proof of work on
every login (easiness 200), and a 2FA account works with its TOTP secret."""

from __future__ import annotations

import os
from pathlib import Path

import requests

from tests.support.mega import download
from tests.support.megasim import MFA_EMAIL, MFA_PASSWORD, MFA_SECRET, MegaSim
from tests.support.servers import start_server


def upload_both_ways(url: str) -> list[tuple[str, bytes]]:
    """One multipart upload and one PUT; (link, content) of each."""
    multipart = os.urandom(200_000)
    reply = requests.post(f"{url}/upload", files={"file": ("m.bin", multipart)}, timeout=120)
    assert reply.status_code == 200, reply.text
    put = os.urandom(150_001)
    answer = requests.put(f"{url}/upload/p.bin", data=put, timeout=120)
    assert answer.status_code == 200, answer.text
    return [(reply.json()["link"], multipart), (answer.text.strip(), put)]


def test_a_2fa_account_behind_proofs_of_work(megasim: MegaSim, tmp_path: Path) -> None:
    megasim.hashcash(200)
    server = start_server(
        tmp_path,
        storage="mega",
        mega_api_url=megasim.url,
        mega_email=MFA_EMAIL,
        mega_password=MFA_PASSWORD,
        mega_totp_secret=MFA_SECRET,
    )
    try:
        uploads = upload_both_ways(server.url)
    finally:
        server.stop()
    proofs = megasim.state()["hashcash"]
    assert proofs["solutions_accepted"] >= 2  # us0 and us of the one login
    megasim.hashcash(None)  # the test's own reader answers no challenges
    for link, content in uploads:
        assert download(megasim, link) == content
    log = server.logs()
    assert log.count("The MEGA login needed a proof of work") == 1
    assert MFA_SECRET not in log and MFA_PASSWORD not in log
