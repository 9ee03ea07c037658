"""The object-storage settings as read at start: PAIMON_SPOOL_URL, PAIMON_STORAGE=s3 and
where its files go, refused combinations in one line each (in process: no server)."""

from __future__ import annotations

import pytest

from paimon.bootstrap.wiring import build_spool, build_storage
from paimon.config import SettingsError, load_settings
from paimon.spool.objects import ObjectSpool
from paimon.spool.writer import Spool
from paimon.storage.s3 import S3Storage


def test_the_local_spool_stays_the_default() -> None:
    settings = load_settings()
    assert settings.spool_url is None
    assert type(build_spool(settings)) is Spool


def test_s3_storage_files_go_under_the_spool_unless_given_their_own_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("PAIMON_STORAGE", "s3")
    monkeypatch.setenv("PAIMON_SPOOL_URL", "s3://uploads/spool/")
    settings = load_settings()
    assert isinstance(build_spool(settings), ObjectSpool)
    storage = build_storage(settings)
    assert isinstance(storage, S3Storage)
    assert str(storage.location) == "s3://uploads/spool/files"
    monkeypatch.setenv("PAIMON_S3_STORAGE_URL", "s3://kept/files")
    assert str(build_storage(load_settings()).location) == "s3://kept/files"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PAIMON_STORAGE": "s3"}, "PAIMON_S3_STORAGE_URL"),
        ({"PAIMON_SPOOL_URL": "s3://uploads/spool"}, "PAIMON_SPOOL_URL"),
        ({"PAIMON_STORAGE": "s3", "PAIMON_S3_STORAGE_URL": "http://x/y"}, "PAIMON_S3_STORAGE_URL"),
        ({"PAIMON_STORAGE": "mega", "PAIMON_SPOOL_URL": "s3://Bad_Bucket"}, "PAIMON_SPOOL_URL"),
    ],
)
def test_refused_at_start_in_one_line(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    monkeypatch.setenv("PAIMON_MEGA_EMAIL", "a@b.c")
    monkeypatch.setenv("PAIMON_MEGA_PASSWORD", "pw")
    monkeypatch.setenv("PAIMON_STORAGE", "local")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert any(line.startswith(named) for line in refused.value.lines), refused.value.lines
