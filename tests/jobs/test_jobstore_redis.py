"""What only the Redis store has: credentials in its URL, its keys, its prefix."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from paimon.jobs import listing
from paimon.jobs.listing import JobQuery, Tally
from paimon.jobs.model import JobState
from paimon.jobs.redis import RedisJobStore
from paimon.jobs.store import StoreUnavailable
from tests.support.jobstores import make_job
from tests.support.redis import RedisServer
from tests.support.servers import free_port

PASSWORD = "hunter2-Zq8v"


@pytest.fixture(scope="module")
def password_server(tmp_path_factory: pytest.TempPathFactory):
    with RedisServer.start(tmp_path_factory.mktemp("redis-auth"), password=PASSWORD) as server:
        yield server


def check_error(store: RedisJobStore) -> RuntimeError:
    with pytest.raises(RuntimeError) as caught:
        store.check()
    return caught.value


def assert_secret_free(error: BaseException, *secrets: str) -> None:
    """Neither the message, nor an exception chained to it, nor a repr holds a secret."""
    shown = [str(error), repr(error)]
    assert error.__cause__ is None and error.__suppress_context__
    for secret in secrets:
        assert all(secret not in text for text in shown), shown


def test_unreachable_server(redis_server: RedisServer, autoclose) -> None:
    port = free_port()  # nothing listens there
    store = autoclose(RedisJobStore(f"redis://default:{PASSWORD}@127.0.0.1:{port}/0"))
    error = check_error(store)
    assert "unreachable" in str(error) and f"127.0.0.1:{port}" in str(error)
    assert_secret_free(error, PASSWORD)
    assert PASSWORD not in repr(store)


@pytest.mark.parametrize("userinfo", [":{}", "default:{}", ":{}%21"])
def test_wrong_password(password_server: RedisServer, userinfo: str) -> None:
    wrong = "wrong-" + PASSWORD[::-1]
    url = f"redis://{userinfo.format(wrong)}@127.0.0.1:{password_server.port}/0"
    error = check_error(RedisJobStore(url))
    assert f"127.0.0.1:{password_server.port}" in str(error)
    assert "Error" in str(error)  # the cause's type is named, for a person to act on
    assert_secret_free(error, wrong, PASSWORD)


def test_no_password_where_one_is_required(password_server: RedisServer) -> None:
    error = check_error(RedisJobStore(f"redis://127.0.0.1:{password_server.port}/0"))
    assert "AuthenticationError" in str(error) or "NOAUTH" in str(error)


def test_right_password_works(password_server: RedisServer, autoclose) -> None:
    store = autoclose(RedisJobStore(password_server.url))
    store.check()
    job = make_job()
    store.create(job)
    assert store.get(job.id) == job


def test_unsupported_url_is_a_readable_check_error(autoclose) -> None:
    store = autoclose(RedisJobStore(f"http://user:{PASSWORD}@127.0.0.1:6379/0"))
    error = check_error(store)
    assert "scheme" in str(error)
    assert_secret_free(error, PASSWORD)


def test_prefixes_keep_stores_apart(redis_db: RedisServer, autoclose) -> None:
    ours, theirs = (
        autoclose(RedisJobStore(redis_db.url)),
        autoclose(RedisJobStore(redis_db.url, prefix="other:")),
    )
    ours_job = make_job(state=JobState.QUEUED, spool_path="/spool/ours")
    theirs_job = make_job(state=JobState.FAILED, spool_path="/spool/theirs", updated_at=1.0)
    ours.create(ours_job)
    theirs.create(theirs_job)
    assert ours.get(theirs_job.id) is None
    assert ours.counts()[JobState.FAILED] == 0 and theirs.counts()[JobState.QUEUED] == 0
    assert ours.resumable(time.time()) == [ours_job.id]
    assert ours.purgeable_before(time.time()) == []
    assert theirs.active_spool_paths() == {"/spool/theirs"}
    theirs.delete(ours_job.id)
    assert ours.get(ours_job.id) == ours_job


def test_key_layout(redis_db: RedisServer, autoclose) -> None:
    """One hash per job, a set per state in use, a sorted set of finished jobs, and the
    listing's sorted sets and totals."""
    store = autoclose(RedisJobStore(redis_db.url))
    queued, done = make_job(state=JobState.QUEUED), make_job(state=JobState.DONE, updated_at=7.5)
    store.create(queued)
    store.create(done)
    with redis_db.client() as client:
        listing = {  # paimon/jobs/redis_listing.py
            "paimon:list:all",
            "paimon:list:state:queued",
            "paimon:list:state:done",
            "paimon:list:backend:local",
            "paimon:list:names",
            *(f"paimon:list:prefix:{p}" for p in ("r", "re", "rep")),  # report.pdf
            "paimon:list:version",
            "paimon:totals",
            "paimon:totals:days",
        }
        assert set(client.keys("*")) == {
            f"paimon:job:{queued.id}",
            f"paimon:job:{done.id}",
            "paimon:state:queued",
            "paimon:state:done",
            "paimon:finished",
            *listing,
        }
        assert client.zrange("paimon:finished", 0, -1, withscores=True) == [(done.id, 7.5)]
        assert client.hget(f"paimon:job:{queued.id}", "state") == "queued"
        assert not client.hexists(f"paimon:job:{queued.id}", "size")  # None: absent
    store.delete(queued.id)
    store.delete(done.id)
    with redis_db.client() as client:
        assert client.keys("*") == ["paimon:list:version"]  # nothing else left behind


def test_a_short_name_prefix_is_read_from_its_own_index(
    redis_db: RedisServer, autoclose, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name's first characters have a time-ordered index of their own: a page of a
    short prefix is full however many newer jobs have other names (the walk looks at
    SCAN_BUDGET entries at most), and a longer common prefix walks it."""
    monkeypatch.setattr(listing, "SCAN_BUDGET", 10)
    monkeypatch.setattr(listing, "NAME_MATCHES_SORTED", 2)
    store = autoclose(RedisJobStore(redis_db.url))
    photos = [make_job(filename=f"IMG_{n}.jpg", created_at=float(n)) for n in range(6)]
    others = [make_job(filename=f"report {n}.pdf", created_at=100.0 + n) for n in range(40)]
    for job in photos + others:
        store.create(job)
    for name in ("i", "Im", "img", "img_"):
        page = store.list_jobs(JobQuery(name=name, limit=6))
        assert [job.id for job in page.jobs] == [job.id for job in reversed(photos)], name
        assert page.next is None
    assert [job.id for job in store.list_jobs(JobQuery(name="rep", limit=10)).jobs] == [
        job.id for job in reversed(others[-10:])
    ]


def test_index_reads_never_scan_the_keyspace(redis_db: RedisServer, autoclose) -> None:
    store = autoclose(RedisJobStore(redis_db.url))
    for state in JobState:
        store.create(make_job(state=state, spool_path=f"/spool/{state}", updated_at=1.0))
    with redis_db.client() as client:
        client.config_resetstat()
        assert sum(store.counts().values()) == len(JobState)
        assert len(store.resumable(time.time())) == 2
        assert len(store.purgeable_before(time.time())) == 2
        assert len(store.active_spool_paths()) == len(JobState) - 1
        used = {name.removeprefix("cmdstat_") for name in client.info("commandstats")}
    assert used.isdisjoint({"keys", "scan", "hscan", "sscan"}), used
    assert {"scard", "sunion", "zrangebyscore"} <= used


def test_a_lost_redis_is_reported_by_check(tmp_path: Path, autoclose) -> None:
    with RedisServer.start(tmp_path) as server:
        store = autoclose(RedisJobStore(server.url))
        store.check()
    error = check_error(store)
    assert "unreachable" in str(error)


def test_jobs_of_a_version_before_the_console_are_listed_once(
    redis_db: RedisServer, autoclose
) -> None:
    """A store an older version filled (no listing keys, no ``listed`` marks) is listed
    on first use, by two processes' stores at once, each job counted once."""
    writer = autoclose(RedisJobStore(redis_db.url))
    jobs = [make_job(filename=f"old {n}.txt", size=n, created_at=float(n)) for n in range(30)]
    for job in jobs:
        writer.create(job)
    with redis_db.client() as client:
        client.delete(*client.keys("paimon:list:*"), "paimon:totals", "paimon:totals:days")
        for job in jobs:
            client.hdel(f"paimon:job:{job.id}", "listed")
    first, second = autoclose(RedisJobStore(redis_db.url)), autoclose(RedisJobStore(redis_db.url))
    with ThreadPoolExecutor(2) as pool:
        pages = list(pool.map(lambda store: store.list_jobs(JobQuery(limit=100)), [first, second]))
    expected = [job.id for job in reversed(jobs)]
    assert [[job.id for job in page.jobs] for page in pages] == [expected, expected]
    assert first.totals().all[JobState.RECEIVING] == Tally(30, sum(range(30)))
    assert [job.id for job in second.list_jobs(JobQuery(name="OLD 1")).jobs] == [
        job.id for job in reversed(jobs) if job.filename.startswith("old 1")
    ]


def test_the_outbox_on_an_unreachable_redis_is_store_unavailable(autoclose) -> None:
    """As the jobs' calls are: the owner's deliveries view answers 503, not 500."""
    port = free_port()  # nothing listens there
    store = autoclose(RedisJobStore(f"redis://default:{PASSWORD}@127.0.0.1:{port}/0"))
    calls = {
        "get_delivery": lambda: store.get_delivery("msg_x"),
        "list_deliveries": lambda: store.list_deliveries(),
        "delivery_counts": store.delivery_counts,
        "resend_delivery": lambda: store.resend_delivery("msg_x", 1.0, 2.0),
        "claim_deliveries": lambda: store.claim_deliveries("https://a/", "o", 1.0, 60, 4),
        "give_up_deliveries": lambda: store.give_up_deliveries(1.0, "why"),
    }
    for name, call in calls.items():
        with pytest.raises(StoreUnavailable) as caught:
            call()
        assert f"127.0.0.1:{port}" in str(caught.value), name
        assert_secret_free(caught.value, PASSWORD)
