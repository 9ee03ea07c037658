"""async-mega-py, an independent and maintained MEGA client, against the emulator and
against Paimon's links: if both sides agree with a client written and tested against the
real MEGA, the emulator is not just agreeing with our own client.

async-mega-py's top-level package is ``mega``, like mega.py's, so it lives in a venv of
its own (requirements-crosscheck.txt, built by scripts/test) and runs as a subprocess:
tests/support/crosscheck_driver.py, JSON in and out. ``PAIMON_TEST_CROSSCHECK_PYTHON`` names that
venv's interpreter; without it these tests fail, since a skip would hide that the
cross-check never ran.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from paimon.storage.mega.crypto import decrypt_file, parse_link
from tests.support.locks import parse_lock
from tests.support.mega import PAIMON_SIZES, fetch_ciphertext
from tests.support.megasim import EASINESS, MFA_EMAIL, V1_EMAIL, V2_EMAIL, MegaSim, root_of
from tests.support.servers import REPO_ROOT, clean_environ

ENV_NAME = "PAIMON_TEST_CROSSCHECK_PYTHON"
# Read at import: the autouse _isolated_settings fixture removes PAIMON_* variables from
# the environment before each test runs.
CROSSCHECK_PYTHON = os.environ.get(ENV_NAME)
DRIVER = REPO_ROOT / "tests" / "support" / "crosscheck_driver.py"
CLIENT = f"async-mega-py {parse_lock('requirements-crosscheck.txt')['async-mega-py'][0]}"
DRIVER_TIMEOUT_SECONDS = 300


@dataclass
class Driven:
    """One run of the driver: each step's result, and the error that ended it, if any."""

    results: list[dict[str, Any]]
    error: dict[str, Any] | None


@pytest.fixture(scope="session")
def crosscheck_python() -> str:
    """The crosscheck venv's interpreter; a failure, never a skip, when it is missing."""
    if not CROSSCHECK_PYTHON:
        pytest.fail(
            f"{ENV_NAME} is not set: it must name the python of a venv built from "
            "requirements-crosscheck.txt (scripts/test builds .venvs/py<version>-crosscheck "
            "and sets it), so the async-mega-py cross-check cannot run",
            pytrace=False,
        )
    if not os.access(CROSSCHECK_PYTHON, os.X_OK):
        pytest.fail(f"{ENV_NAME}={CROSSCHECK_PYTHON} is not an executable", pytrace=False)
    return CROSSCHECK_PYTHON


def drive(python: str, sim: MegaSim, *steps: dict[str, Any]) -> Driven:
    """Run ``steps`` in the driver with one async-mega-py client aimed at ``sim``."""
    # -I: neither PYTHONPATH nor the script's folder on sys.path, so nothing of Paimon's
    # environment (mega.py above all) can shadow the crosscheck venv's packages.
    env = {k: v for k, v in clean_environ().items() if not k.startswith("PYTHON")}
    completed = subprocess.run(
        [python, "-I", str(DRIVER)],
        input=json.dumps({"api": f"{sim.url}/cs", "steps": list(steps)}),
        capture_output=True,
        text=True,
        env=env,
        timeout=DRIVER_TIMEOUT_SECONDS,
    )
    try:
        reply = json.loads(completed.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"the driver crashed ({completed.returncode}):\n{completed.stderr}")
    assert reply["client"] == CLIENT, f"{python} runs {reply['client']}, not {CLIENT}"
    assert completed.returncode == (0 if reply["error"] is None else 1), completed.stderr
    return Driven(reply["results"], reply["error"])


def drive_ok(python: str, sim: MegaSim, *steps: dict[str, Any]) -> list[dict[str, Any]]:
    """The results of ``steps``, which must all succeed."""
    driven = drive(python, sim, *steps)
    assert driven.error is None, f"async-mega-py failed: {driven.error}"
    return driven.results


def login_step(sim: MegaSim, email: str, password: str | None = None) -> dict[str, Any]:
    password = sim.accounts[email] if password is None else password
    return {"op": "login", "email": email, "password": password}


# ---- logins ------------------------------------------------------------------------


@pytest.mark.parametrize("email", [V2_EMAIL, V1_EMAIL])
def test_logs_in_without_a_challenge(megasim: MegaSim, crosscheck_python: str, email: str) -> None:
    logins = megasim.state()["logins"]
    (login,) = drive_ok(crosscheck_python, megasim, login_step(megasim, email))
    assert login == {"email": email, "root": root_of(megasim, email)}
    state = megasim.state()
    assert state["logins"] == logins + 1
    assert state["hashcash"]["challenges_issued"] == 0


@pytest.mark.parametrize("all_requests", [False, True], ids=["logins", "all"])
def test_logs_in_through_a_hashcash_challenge(
    megasim: MegaSim, crosscheck_python: str, all_requests: bool
) -> None:
    megasim.hashcash(EASINESS, all_requests=all_requests)
    (login,) = drive_ok(crosscheck_python, megasim, login_step(megasim, V2_EMAIL))
    assert login == {"email": V2_EMAIL, "root": root_of(megasim, V2_EMAIL)}
    gate = megasim.state()["hashcash"]
    # Each challenged request was answered once, correctly: us0 and us in login mode;
    # those and the file listing and user query after them in "all" mode.
    assert gate["solutions_accepted"] == gate["challenges_issued"]
    if all_requests:
        assert gate["challenges_issued"] >= 4
    else:
        assert gate["challenges_issued"] == 2


@pytest.mark.parametrize(
    ("email", "password", "code"),
    [(V2_EMAIL, "wrong", -9), (MFA_EMAIL, None, -26)],
    ids=["wrong-password", "2fa-without-code"],
)
def test_refused_logins_carry_megas_codes(
    megasim: MegaSim, crosscheck_python: str, email: str, password: str | None, code: int
) -> None:
    """A wrong password is ENOENT; async-mega-py sends no ``mfa``, so a 2FA account is
    EMFAREQUIRED, the code MEGA's SDK expects (API_EMFAREQUIRED)."""
    driven = drive(crosscheck_python, megasim, login_step(megasim, email, password))
    assert driven.error is not None
    assert (driven.error["step"], driven.error["type"], driven.error["code"]) == (
        0,
        "RequestError",
        code,
    )


# ---- its uploads -------------------------------------------------------------------


def upload_one(sim: MegaSim, python: str, source: Path) -> dict[str, Any]:
    _, upload = drive_ok(
        python, sim, login_step(sim, V2_EMAIL), {"op": "upload", "path": str(source)}
    )
    return upload


# The empty file (no chunk at all), and two chunks, the second one short.
@pytest.mark.parametrize("size", [0, 300_005])
def test_its_upload_is_a_node_paimon_can_decrypt(
    megasim: MegaSim, crosscheck_python: str, tmp_path: Path, size: int
) -> None:
    source = tmp_path / "independent.bin"
    source.write_bytes(os.urandom(size))
    upload = upload_one(megasim, crosscheck_python, source)
    assert (upload["name"], upload["size"]) == (source.name, size)

    state = megasim.state()
    (node,) = [n for n in state["nodes"] if n["h"] == upload["handle"]]
    public_handle, node_key = parse_link(upload["link"])
    assert (node["t"], node["s"], node["p"]) == (0, size, root_of(megasim, V2_EMAIL))
    assert node["public_handle"] == public_handle
    assert state["bytes_stored"] == size
    assert state["pending_uploads"] == []  # "p" took the completed upload
    # Paimon's decryptor checks the meta-MAC async-mega-py computed.
    assert decrypt_file(fetch_ciphertext(megasim, public_handle), node_key) == source.read_bytes()

    # And async-mega-py reads it back, by node and by link.
    out = tmp_path / "by-node", tmp_path / "by-link"
    _, by_node, by_link = drive_ok(
        crosscheck_python,
        megasim,
        login_step(megasim, V2_EMAIL),
        {"op": "download", "handle": upload["handle"], "dir": str(out[0])},
        {"op": "download_url", "url": upload["link"], "dir": str(out[1])},
    )
    for result in (by_node, by_link):
        assert Path(result["path"]).read_bytes() == source.read_bytes()


def test_it_checks_the_mac_of_what_it_downloads(
    megasim: MegaSim, crosscheck_python: str, tmp_path: Path
) -> None:
    """One flipped ciphertext bit is refused: the downloads that pass are MAC-checked."""
    source = tmp_path / "tampered.bin"
    source.write_bytes(os.urandom(200_000))
    upload = upload_one(megasim, crosscheck_python, source)
    (blob,) = (megasim.data_dir / "megasim-blobs").glob("*.blob")
    ciphertext = bytearray(blob.read_bytes())
    ciphertext[150_000] ^= 1
    blob.write_bytes(ciphertext)

    step = {"op": "download_url", "url": upload["link"], "dir": str(tmp_path / "out")}
    driven = drive(crosscheck_python, megasim, step)
    assert driven.error is not None
    assert (driven.error["type"], driven.error["message"]) == ("RuntimeError", "Mismatched mac")
    assert not (tmp_path / "out" / source.name).exists()


# ---- Paimon's uploads --------------------------------------------------------------


@pytest.mark.parametrize("size", PAIMON_SIZES)
def test_downloads_and_mac_checks_what_paimon_uploaded(
    sim: MegaSim,
    paimon_links: dict[int, tuple[str, bytes]],
    crosscheck_python: str,
    tmp_path: Path,
    size: int,
) -> None:
    link, content = paimon_links[size]
    step = {"op": "download_url", "url": link, "dir": str(tmp_path)}
    (result,) = drive_ok(crosscheck_python, sim, step)
    downloaded = Path(result["path"])
    assert downloaded.name == f"file-{size}.bin"  # Paimon's attributes decrypt too
    assert downloaded.read_bytes() == content
