"""paimon doctor: every check, in this environment and in deliberately broken ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from paimon import doctor
from tests.support.doctor import by_name, run_doctor
from tests.support.servers import REPO_ROOT, clean_environ

PYENV = Path("/root/.pyenv/versions")


def test_every_check_passes_here() -> None:
    results = doctor.run_checks()
    assert [r.name for r in results] == [
        "python",
        "mega",
        "tenacity",
        "pathlib",
        "pydantic",
        "settings",
        "spool",
        "jobs",
        "downloads",
    ]
    assert all(r.ok for r in results), results


def test_console_script_and_module_agree(tmp_path: Path) -> None:
    """`paimon doctor` is installed by scripts/build next to this interpreter."""
    script = Path(sys.executable).parent / "paimon"
    text = subprocess.run(
        [str(script), "doctor"], cwd=tmp_path, env=clean_environ(), capture_output=True, text=True
    )
    assert text.returncode == 0, text.stdout + text.stderr
    assert text.stdout.strip().endswith("paimon doctor: all checks passed")
    code, report = run_doctor(sys.executable, tmp_path)
    assert code == 0
    assert report["ok"] is True


def test_missing_mega_settings_are_named_and_secrets_never_printed(tmp_path: Path) -> None:
    code, report = run_doctor(
        sys.executable, tmp_path, PAIMON_STORAGE="mega", PAIMON_MEGA_PASSWORD="hunter2-secret"
    )
    assert code == 1
    settings = by_name(report)["settings"]
    assert not settings["ok"]
    assert "PAIMON_MEGA_EMAIL" in settings["detail"]
    assert "hunter2-secret" not in json.dumps(report)


def test_mega_mode_report_shows_account_not_password(tmp_path: Path) -> None:
    code, report = run_doctor(
        sys.executable,
        tmp_path,
        PAIMON_MEGA_EMAIL="owner@example.com",
        PAIMON_MEGA_PASSWORD="hunter2-secret",
    )
    assert code == 0
    assert "owner@example.com" in by_name(report)["settings"]["detail"]
    assert "hunter2-secret" not in json.dumps(report)


def test_unwritable_spool_fails(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should be")
    code, report = run_doctor(sys.executable, tmp_path, PAIMON_DATA_DIR=str(blocker))
    assert code == 1
    assert "not writable" in by_name(report)["spool"]["detail"]


def test_too_little_free_space_fails(tmp_path: Path) -> None:
    code, report = run_doctor(sys.executable, tmp_path, PAIMON_MIN_FREE_BYTES=str(2**62))
    assert code == 1
    assert "PAIMON_MIN_FREE_BYTES" in by_name(report)["spool"]["detail"]


def test_text_report_is_readable(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "paimon", "doctor"],
        cwd=tmp_path,
        env=clean_environ() | {"PAIMON_PORT": "0"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "FAIL settings  PAIMON_PORT: " in result.stdout
    assert result.stdout.strip().endswith("paimon doctor: FAILED")


def test_unsupported_python_is_refused(tmp_path: Path) -> None:
    """A real Python 3.10 runs the check (it needs nothing outside the stdlib)."""
    python310 = PYENV / "3.10.13" / "bin" / "python"
    assert python310.exists(), "the machine image ships Python 3.10 under pyenv"
    code = "from paimon.doctor import check_python; r = check_python(); print(r.ok, r.detail)"
    result = subprocess.run(
        [str(python310), "-c", code],
        cwd=tmp_path,
        env=clean_environ() | {"PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "False Python 3.10.13; Paimon needs 3.11, 3.12 or 3.13"
    build = subprocess.run(
        [str(REPO_ROOT / "scripts" / "build")],
        env=clean_environ() | {"PYTHON": str(python310)},
        capture_output=True,
        text=True,
    )
    assert build.returncode == 1
    assert build.stderr.strip().count("\n") == 0
    assert "Python 3.10 is not supported" in build.stderr


@pytest.fixture(scope="module")
def scratch_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv built by scripts/build, as Render builds (doctor must pass)."""
    venv = tmp_path_factory.mktemp("scratch") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    build = subprocess.run(
        [str(REPO_ROOT / "scripts" / "build")],
        env=clean_environ()
        | {"PYTHON": str(venv / "bin" / "python"), "PAIMON_DATA_DIR": str(venv / "data")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    assert "paimon doctor: all checks passed" in build.stdout
    imported = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import mega; print(mega.Mega.__name__)"],
        capture_output=True,
        text=True,
    )
    assert imported.stdout.strip() == "Mega", imported.stderr
    return venv


def pip(venv: Path, *args: str) -> None:
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q", *args],
        check=True,
        capture_output=True,
        timeout=600,
    )


def test_tenacity_5_is_caught(scratch_venv: Path, tmp_path: Path) -> None:
    """mega.py's declared tenacity<6 breaks `import mega` on 3.11+: doctor says so."""
    pip(scratch_venv, "install", "--no-deps", "tenacity==5.1.5", "six")
    try:
        code, report = run_doctor(scratch_venv / "bin" / "python", tmp_path)
    finally:
        lock = (REPO_ROOT / "requirements.txt").read_text()
        pinned = next(line.split()[0] for line in lock.splitlines() if line.startswith("tenacity"))
        pip(scratch_venv, "install", "--no-deps", pinned)
    checks = by_name(report)
    assert code == 1
    assert not checks["tenacity"]["ok"]
    assert "5.1.5" in checks["tenacity"]["detail"]
    assert not checks["mega"]["ok"]
    assert "coroutine" in checks["mega"]["detail"]
    code_after, _ = run_doctor(scratch_venv / "bin" / "python", tmp_path)
    assert code_after == 0


def test_pathlib_backport_is_caught(scratch_venv: Path, tmp_path: Path) -> None:
    pip(scratch_venv, "install", "--no-deps", "pathlib==1.0.1")
    try:
        code, report = run_doctor(scratch_venv / "bin" / "python", tmp_path)
    finally:
        pip(scratch_venv, "uninstall", "-y", "pathlib")
    assert code == 1
    pathlib_check = by_name(report)["pathlib"]
    assert not pathlib_check["ok"]
    assert "pip uninstall pathlib" in pathlib_check["detail"]
