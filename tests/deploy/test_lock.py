"""The lock's invariants: what makes scripts/build safe on 3.11-3.13."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.support.locks import parse_entries, parse_lock
from tests.support.servers import REPO_ROOT

LOCKS = ["requirements.txt", "requirements-dev.txt"]
#: async-mega-py's own lock, for the cross-check venv (tests/support/crosscheck_driver.py).
CROSSCHECK_LOCK = "requirements-crosscheck.txt"


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


@pytest.mark.parametrize("lock", [*LOCKS, CROSSCHECK_LOCK])
def test_every_package_is_pinned_with_hashes(lock: str) -> None:
    entries = parse_entries(lock)
    assert len(entries) > 10
    for name, version, _marker, hashes in entries:
        assert hashes, f"{name}=={version} has no hash in {lock}"
    requirement_lines = [
        line
        for line in (REPO_ROOT / lock).read_text().splitlines()
        if line and not line.startswith((" ", "#"))
    ]
    assert len(requirement_lines) == len(entries)


@pytest.mark.parametrize("lock", LOCKS)
def test_policy_holds(lock: str) -> None:
    entries = parse_lock(lock)
    assert "pathlib" not in entries
    assert entries["mega-py"][0] == "1.0.8"
    assert version_tuple(entries["tenacity"][0]) >= (8, 2)
    assert version_tuple(entries["pydantic"][0]) >= (2, 8)
    assert version_tuple(entries["pydantic-core"][0]) >= (2, 20)


def test_dev_lock_agrees_with_runtime_lock() -> None:
    def pins(lock: str) -> set[tuple[str, str, str]]:
        return {(pkg, version, marker) for pkg, version, marker, _ in parse_entries(lock)}

    missing = pins("requirements.txt") - pins("requirements-dev.txt")
    assert not missing, f"the dev lock pins these differently: {sorted(missing)}"


def test_lock_covers_pyproject_and_build_backend() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    runtime = parse_lock("requirements.txt")
    wanted = pyproject["project"]["dependencies"] + pyproject["build-system"]["requires"]
    for requirement in wanted:
        name = re.match(r"[A-Za-z0-9._-]+", requirement)[0].lower().replace("_", "-")
        name = name.replace(".", "-")
        assert name in runtime, f"{requirement} is not in requirements.txt: run scripts/lock"


def test_lock_has_only_universal_entries_for_supported_pythons() -> None:
    text = (REPO_ROOT / "requirements.txt").read_text()
    assert "python_full_version < '3.11'" not in text
    assert "python_version < '3.11'" not in text


def test_crosscheck_lock_pins_its_client_and_not_mega_py() -> None:
    """Both install a top-level ``mega``: the crosscheck venv must hold only async-mega-py's,
    at the version its .in file names."""
    wanted = (REPO_ROOT / "requirements-crosscheck.in").read_text()
    (pin,) = re.findall(r"^async-mega-py==(\S+)$", wanted, flags=re.MULTILINE)
    entries = parse_lock(CROSSCHECK_LOCK)
    assert entries["async-mega-py"][0] == pin
    assert "mega-py" not in entries
