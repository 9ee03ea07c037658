"""Issue 20, item 4: Max-Days and Max-Downloads, and the sweep that removes what is due.

End to end on a real gunicorn (local storage and the MEGA emulator): the limits given
as headers or form fields, on every door, refused with a clear 400 when the server
cannot keep them; downloads counted, 410 after the last; the sweep on the workers'
maintenance thread deleting expired objects. The sweep itself is also run with a
controlled clock (``Keeper.sweep(now)``) against real local storage and the emulator.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from paimon.bootstrap.wiring import mega_account
from paimon.jobs.model import Job, JobState, new_job_id
from paimon.jobs.redis import RedisJobStore
from paimon.jobs.sqlite import SqliteJobStore
from paimon.jobs.store import JobStore
from paimon.storage.local import LocalStorage
from paimon.storage.mega import MegaStorage
from paimon.storage.mega.crypto import parse_link
from paimon.uploads.keeping import DOWNLOADS_USED, EXPIRED, Keeper
from paimon.uploads.refusals import RefusingStore
from tests.support.mega import FAST_RETRY, download, mega_settings
from tests.support.megasim import MegaSim
from tests.support.servers import ServerProcess, eventually
from tests.support.uploads import TUS

JSON = {"Accept": "application/json"}
DAY = 86_400
SOON = 2.0 / DAY  # Max-Days for "in two seconds"
# Short leases: the maintenance thread, and so the sweep, runs every 0.5 s.
QUICK_MAINTENANCE = {"job_lease_seconds": "1.5"}


LOCAL_SETTINGS = {"max_days": "30", **QUICK_MAINTENANCE}


MEGA_SETTINGS = QUICK_MAINTENANCE


def status(server: ServerProcess, job_id: str) -> dict:
    return requests.get(f"{server.url}/status/{job_id}", headers=JSON, timeout=10).json()


def stored_file(server: ServerProcess, link: str) -> Path:
    return server.data_dir / "files" / urlsplit(link).path.rsplit("/", 1)[-1]


# --- Max-Downloads ------------------------------------------------------------------------


def test_downloads_are_counted_and_the_one_after_the_last_is_410(
    local_server: ServerProcess,
) -> None:
    content = os.urandom(10_000)
    reply = requests.put(
        f"{local_server.url}/upload/twice.bin",
        data=content,
        headers={**JSON, "Max-Downloads": "2"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["max_downloads"] == 2
    link = body["link"]
    first = requests.get(link, timeout=10)
    assert first.content == content
    # A resumed range, a HEAD and a revalidation are the same download, not another.
    resumed = requests.get(link, headers={"Range": "bytes=5000-"}, timeout=10)
    assert (resumed.status_code, resumed.content) == (206, content[5000:])
    assert requests.head(link, timeout=10).status_code == 200
    etag = {"If-None-Match": first.headers["ETag"]}
    assert requests.get(link, headers=etag, timeout=10).status_code == 304
    assert status(local_server, body["id"])["downloads"] == 1
    assert requests.get(link, timeout=10).content == content
    gone = requests.get(link, timeout=10)
    assert gone.status_code == 410
    assert (gone.json()["error"], gone.json()["message"]) == (
        "gone",
        "This upload could be downloaded 2 times; it was, and is deleted.",
    )
    # The sweep deletes the file and says so in the job; the link stays 410.
    assert eventually(
        lambda: status(local_server, body["id"])["removed_at"] is not None, timeout=20
    )
    job = status(local_server, body["id"])
    assert (job["removed_because"], job["downloads"], job["link"]) == (DOWNLOADS_USED, 2, None)
    assert not stored_file(local_server, link).exists()
    assert requests.get(link, timeout=10).status_code == 410
    # Its delete link is spent with it.
    assert requests.delete(body["delete_url"], timeout=10).status_code == 404


def test_parallel_downloads_never_pass_the_limit(local_server: ServerProcess) -> None:
    reply = requests.post(
        f"{local_server.url}/upload",
        files={"file": ("race.bin", b"r" * 1000)},
        data={"max_downloads": "3"},
        timeout=30,
    )
    assert reply.json()["max_downloads"] == 3  # from the form field
    link = reply.json()["link"]
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: requests.get(link, timeout=30).status_code, range(12)))
    assert sorted(codes) == [200] * 3 + [410] * 9


def test_mega_refuses_a_download_limit_before_the_body(mega_server: ServerProcess) -> None:
    jobs_before = requests.get(f"{mega_server.url}/status", timeout=10).json()["jobs"]
    reply = requests.put(
        f"{mega_server.url}/upload/x.bin",
        data=b"x" * 100,
        headers={"Max-Downloads": "1"},
        timeout=30,
    )
    assert reply.status_code == 400
    assert reply.json()["error"] == "max_downloads_unsupported"
    assert "serves their downloads itself" in reply.json()["message"]
    assert requests.get(f"{mega_server.url}/status", timeout=10).json()["jobs"] == jobs_before


# --- Max-Days -----------------------------------------------------------------------------


@pytest.mark.parametrize("door", ["header", "form field", "put", "tus"])
def test_an_expired_upload_is_removed_by_the_sweep(local_server: ServerProcess, door: str) -> None:
    content = os.urandom(3000)
    before = time.time()
    if door == "tus":
        created = requests.post(
            f"{local_server.url}/tus/",
            headers={**TUS, "Upload-Length": str(len(content)), "Max-Days": f"{SOON:.6f}"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        job_id = urlsplit(created.headers["Location"]).path.rsplit("/", 1)[-1]
        patched = requests.patch(
            created.headers["Location"],
            data=content,
            headers={
                **TUS,
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
            },
            timeout=30,
        )
        assert patched.status_code == 204, patched.text
        assert eventually(lambda: status(local_server, job_id)["state"] == "done", timeout=20)
        link = status(local_server, job_id)["link"]
    else:
        if door == "put":
            reply = requests.put(
                f"{local_server.url}/upload/soon.bin",
                data=content,
                headers={**JSON, "Max-Days": f"{SOON:.6f}"},
                timeout=30,
            )
        else:
            in_header = door == "header"
            reply = requests.post(
                f"{local_server.url}/upload",
                files={"file": ("soon.bin", content)},
                data={} if in_header else {"max_days": f"{SOON:.6f}"},
                headers={"Max-Days": f"{SOON:.6f}"} if in_header else {},
                timeout=30,
            )
        assert reply.status_code == 200, reply.text
        job_id, link = reply.json()["id"], reply.json()["link"]
        assert before + 1 < reply.json()["expires_at"] < time.time() + 3
    assert requests.get(link, timeout=10).content == content
    assert eventually(lambda: status(local_server, job_id)["removed_at"] is not None, timeout=20)
    job = status(local_server, job_id)
    assert (job["removed_because"], job["link"]) == (EXPIRED, None)
    assert not stored_file(local_server, link).exists()
    gone = requests.get(link, timeout=10)
    assert (gone.status_code, gone.json()["error"]) == (410, "gone")
    assert "expired" in gone.json()["message"]
    page = requests.get(
        f"{local_server.url}/status/{job_id}", headers={"Accept": "text/html"}, timeout=10
    )
    assert "it expired" in page.text
    assert f"upload removed ({EXPIRED})" in local_server.log_path.read_text()


def test_bad_and_too_long_max_days_are_400_before_the_body(local_server: ServerProcess) -> None:
    for value, error in [("0", "bad_keep"), ("-1", "bad_keep"), ("a week", "bad_keep"),
                         ("31", "max_days_too_large")]:  # fmt: skip
        reply = requests.put(
            f"{local_server.url}/upload/x.bin", data=b"x", headers={"Max-Days": value}, timeout=10
        )
        assert (reply.status_code, reply.json()["error"]) == (400, error), value
    assert "at most 30" in reply.json()["message"]
    bad_count = requests.put(
        f"{local_server.url}/upload/x.bin", data=b"x", headers={"Max-Downloads": "1.5"}, timeout=10
    )
    assert (bad_count.status_code, bad_count.json()["error"]) == (400, "bad_keep")
    form = requests.post(
        f"{local_server.url}/upload",
        files={"file": ("x", b"x")},
        data={"max_days": "soon"},
        timeout=10,
    )
    assert (form.status_code, form.json()["error"]) == (400, "bad_keep")
    assert "'max_days'" in form.json()["message"]
    assert eventually(lambda: not any((local_server.data_dir / "spool").iterdir()))


def test_the_bound_is_the_default_and_a_default_applies(server_factory) -> None:
    bounded = server_factory(max_days="7")
    reply = requests.post(f"{bounded.url}/upload", files={"file": ("a", b"a")}, timeout=30)
    assert reply.json()["expires_at"] == pytest.approx(time.time() + 7 * DAY, abs=60)
    shorter = requests.post(
        f"{bounded.url}/upload", files={"file": ("b", b"b")}, data={"max_days": "2"}, timeout=30
    )
    assert shorter.json()["expires_at"] == pytest.approx(time.time() + 2 * DAY, abs=60)
    defaulted = server_factory(default_max_days="0.5")
    reply = requests.put(f"{defaulted.url}/upload/a", data=b"a", headers=JSON, timeout=30)
    assert reply.json()["expires_at"] == pytest.approx(time.time() + DAY / 2, abs=60)
    longer = requests.put(
        f"{defaulted.url}/upload/b", data=b"b", headers={**JSON, "Max-Days": "3"}, timeout=30
    )
    assert longer.json()["expires_at"] == pytest.approx(time.time() + 3 * DAY, abs=60)
    unbounded = server_factory()
    plain = requests.put(f"{unbounded.url}/upload/c", data=b"c", headers=JSON, timeout=30)
    assert "expires_at" not in plain.json()  # kept until deleted, as before


def test_an_expired_mega_upload_loses_its_node(mega_server: ServerProcess, sim: MegaSim) -> None:
    reply = requests.post(
        f"{mega_server.url}/upload",
        files={"file": ("soon.bin", os.urandom(200_000))},
        headers={"Max-Days": f"{SOON:.6f}"},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    handle, _ = parse_link(reply.json()["link"])
    assert eventually(lambda: status(mega_server, reply.json()["id"])["removed_at"] is not None, 30)
    answer = requests.post(f"{sim.url}/cs", json=[{"a": "g", "g": 1, "p": handle}], timeout=10)
    assert answer.json()[0] == -9  # ENOENT: the node is gone from MEGA
    assert status(mega_server, reply.json()["id"])["link"] is None


# --- the sweep with a controlled clock ----------------------------------------------------


def done_job(stored_key: str, link: str | None, **fields: object) -> Job:
    return Job(
        id=new_job_id(),
        filename="kept.bin",
        backend="test",
        state=JobState.DONE,
        storage_key=stored_key,
        link=link,
        delete_digest="ab" * 32,
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_sweep_with_a_controlled_clock_on_local_storage(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "redis":
        store: JobStore = RedisJobStore(request.getfixturevalue("redis_db").url)
    else:
        store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    storage = LocalStorage(tmp_path / "files")
    now = time.time()
    jobs = []
    for days in (1, 3):
        source = tmp_path / f"in-{days}"
        source.write_bytes(b"k" * days)
        stored = storage.store(source, f"{days}.bin")
        jobs.append(done_job(stored.key, None, expires_at=now + days * DAY))
        store.create(jobs[-1])
    keeper = Keeper(store, RefusingStore(store), storage)
    assert keeper.sweep(now) == []
    removed = keeper.sweep(now + 2 * DAY)  # two days later: the one-day upload is due
    assert [job.id for job in removed] == [jobs[0].id]
    assert storage.open(jobs[0].storage_key) is None
    assert storage.open(jobs[1].storage_key) is not None
    kept = store.get(jobs[0].id)
    assert (kept.removed_at, kept.removed_because, kept.delete_digest) == (
        now + 2 * DAY,
        EXPIRED,
        None,
    )
    assert keeper.sweep(now + 2 * DAY) == []  # removed once
    assert [job.id for job in keeper.sweep(now + 4 * DAY)] == [jobs[1].id]
    store.close()


def test_sweep_with_a_controlled_clock_on_mega(megasim: MegaSim, tmp_path: Path) -> None:
    storage = MegaStorage(mega_account(mega_settings(megasim)), retry=FAST_RETRY)
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    source = tmp_path / "in"
    content = os.urandom(70_000)
    source.write_bytes(content)
    stored = storage.store(source, "kept.bin")
    now = time.time()
    job = done_job(stored.key, stored.link, expires_at=now + DAY)
    store.create(job)
    keeper = Keeper(store, RefusingStore(store), storage)
    assert keeper.sweep(now + DAY - 1) == []
    assert download(megasim, stored.link) == content
    # MEGA does not answer for a while: the claim is given back, the next sweep removes.
    megasim.fault("api", "http500", count=20)
    assert keeper.sweep(now + DAY) == []
    (left,) = megasim.state()["faults"]
    assert left["count"] < 20  # the removal met the outage
    assert store.get(job.id).removed_at is None
    megasim.reset(nodes=False)
    assert [removed.id for removed in keeper.sweep(now + DAY)] == [job.id]
    handle, _ = parse_link(stored.link)
    answer = requests.post(f"{megasim.url}/cs", json=[{"a": "g", "g": 1, "p": handle}], timeout=10)
    assert answer.json()[0] == -9
    store.close()
