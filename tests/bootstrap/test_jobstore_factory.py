"""build_job_store: SQLite in the data directory unless a Redis URL is set."""

from __future__ import annotations

from pathlib import Path

from paimon.bootstrap.wiring import build_job_store
from paimon.config import Settings
from paimon.jobs.redis import RedisJobStore
from paimon.jobs.sqlite import SqliteJobStore
from tests.support.jobstores import make_job
from tests.support.redis import RedisServer


def test_default_is_sqlite_in_the_data_dir(tmp_path: Path, autoclose) -> None:
    data_dir = tmp_path / "not" / "yet"
    store = autoclose(build_job_store(Settings(data_dir=data_dir)))
    assert isinstance(store, SqliteJobStore)
    job = make_job()
    store.create(job)
    assert (data_dir / "jobs.sqlite3").is_file()
    assert store.get(job.id) == job


def test_an_empty_redis_url_means_sqlite(tmp_path: Path, autoclose) -> None:
    store = autoclose(build_job_store(Settings(data_dir=tmp_path, redis_url="")))
    assert isinstance(store, SqliteJobStore)


def test_redis_when_a_url_is_set(tmp_path: Path, redis_db: RedisServer, autoclose) -> None:
    settings = Settings(data_dir=tmp_path / "data", redis_url=redis_db.url)
    store = autoclose(build_job_store(settings))
    assert isinstance(store, RedisJobStore)
    job = make_job()
    store.create(job)
    with redis_db.client() as client:
        assert client.exists(f"paimon:job:{job.id}")
    assert not (tmp_path / "data").exists()  # nothing written locally
