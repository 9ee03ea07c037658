"""Settings: defaults that run locally, legacy names, and readable refusals."""

from __future__ import annotations

import subprocess

import pytest

from paimon.config import Settings, SettingsError, load_settings
from tests.support.servers import REPO_ROOT, clean_environ, gunicorn_command


def test_defaults_run_locally_without_credentials() -> None:
    settings = load_settings()
    assert settings.storage_backend == "local"
    assert settings.port == 8000
    assert settings.auth_tokens == []
    assert settings.mega_folder == "Paimon"
    assert settings.mega_api_url == "https://g.api.mega.co.nz"


def test_mega_is_chosen_when_credentials_are_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAIMON_MEGA_EMAIL", "a@b.c")
    monkeypatch.setenv("PAIMON_MEGA_PASSWORD", "pw")
    assert load_settings().storage_backend == "mega"


def test_earlier_server_names_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEGA_EMAIL", "old@b.c")
    monkeypatch.setenv("MEGA_PASSWORD", "old-pw")
    monkeypatch.setenv("AUTH_TOKEN", "legacy-token")
    monkeypatch.setenv("PORT", "10000")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    settings = load_settings()
    assert settings.mega_email == "old@b.c"
    assert settings.mega_password.get_secret_value() == "old-pw"
    assert [t.get_secret_value() for t in settings.auth_tokens] == ["legacy-token"]
    assert (settings.port, settings.workers) == (10000, 3)


def test_paimon_names_win_over_legacy_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEGA_EMAIL", "old@b.c")
    monkeypatch.setenv("PAIMON_MEGA_EMAIL", "new@b.c")
    assert Settings().mega_email == "new@b.c"


def test_tokens_are_comma_separated_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAIMON_AUTH_TOKENS", " tok-alpha, tok-beta ,,tok-gamma ")
    settings = load_settings()
    tokens = [t.get_secret_value() for t in settings.auth_tokens]
    assert tokens == ["tok-alpha", "tok-beta", "tok-gamma"]
    assert "tok-" not in repr(settings)


def test_dotenv_file_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("PAIMON_MEGA_FOLDER=FromDotenv\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings().mega_folder == "FromDotenv"


def test_one_line_per_bad_field_without_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAIMON_PORT", "eighty")
    monkeypatch.setenv("PAIMON_STORAGE", "dropbox")
    monkeypatch.setenv("PAIMON_MEGA_PASSWORD", "s3cret-value")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    lines = caught.value.lines
    assert len(lines) == 2
    assert lines[0].startswith("PAIMON_PORT: ")
    assert lines[1].startswith("PAIMON_STORAGE: ")
    assert "eighty" not in str(caught.value)
    assert "s3cret-value" not in str(caught.value)


def test_mega_mode_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAIMON_STORAGE", "mega")
    monkeypatch.setenv("PAIMON_MEGA_EMAIL", "a@b.c")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.lines == ["PAIMON_MEGA_PASSWORD: required when PAIMON_STORAGE is mega"]


def test_bad_setting_stops_gunicorn_with_one_line_per_field(tmp_path) -> None:
    env = clean_environ() | {
        "PYTHONPATH": str(REPO_ROOT),
        "PAIMON_PORT": "99999",
        "PAIMON_THREADS": "0",
    }
    result = subprocess.run(
        gunicorn_command(), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("paimon: bad setting PAIMON_PORT: ")
    assert lines[1].startswith("paimon: bad setting PAIMON_THREADS: ")
