"""PAIMON_SPOOL_URL: the spool in a real S3-compatible server (SeaweedFS, started by
tests/support/s3.py): bodies of every door stream into multipart uploads, tus PATCHes
become parts (short ones kept as a tail object, as tusd's s3store does), and any
instance carries on an upload or a job another began."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.support.mega import download
from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from tests.support.redis import RedisServer
from tests.support.s3 import S3Bucket
from tests.support.servers import eventually, worker_pids
from tests.support.uploads import (
    ASYNC,
    MIB,
    job,
    post_file,
    put_file,
    tus_create,
    tus_patch,
    wait_for_job,
    wait_for_jobs,
)

SPOOL = "spool"
LEASE_SECONDS = 2


def tus_upload_in(servers: list, chunks: list[bytes]) -> dict:
    """One tus upload of ``chunks``, each PATCH sent to the next of ``servers`` in turn;
    the finished job's view."""
    total = sum(map(len, chunks))
    created = tus_create(servers[0], total, **{"Upload-Metadata": "filename dHVzLmJpbg=="})
    assert created.status_code == 201, created.text
    path = "/" + created.headers["Location"].split("/", 3)[3]
    offset = 0
    for number, chunk in enumerate(chunks):
        server = servers[number % len(servers)]
        head = requests.head(server.url + path, headers={"Tus-Resumable": "1.0.0"}, timeout=10)
        assert int(head.headers["Upload-Offset"]) == offset, (number, head.headers)
        reply = tus_patch(server.url + path, offset, chunk)
        assert reply.status_code == 204, reply.text
        offset += len(chunk)
        assert int(reply.headers["Upload-Offset"]) == offset
    return wait_for_job(servers[-1], path.rstrip("/").rsplit("/", 1)[1])


def test_every_door_streams_into_the_bucket(s3_bucket: S3Bucket, server_factory) -> None:
    server = server_factory(storage="s3", spool_url=s3_bucket.url(SPOOL))
    put_body, form_body = os.urandom(17 * MIB + 3), os.urandom(9 * MIB + 1)
    # Parts shorter than S3's 5 MiB minimum, and longer, in one upload.
    chunks = [os.urandom(size) for size in (3 * MIB, 1 * MIB, 9 * MIB + 5, 2 * MIB, 11)]

    put = put_file(server, "put.bin", put_body)
    form = post_file(server, form_body, "form.bin").json()
    tus = tus_upload_in([server], chunks)

    assert tus["state"] == "done", tus
    assert tus["sha256"] == hashlib.sha256(b"".join(chunks)).hexdigest()
    for link, body in ((put["link"], put_body), (form["link"], form_body)):
        assert requests.get(link, timeout=60).content == body
    assert requests.get(tus["link"], timeout=60).content == b"".join(chunks)
    assert put["sha256"] == hashlib.sha256(put_body).hexdigest()
    # Stored under files/ of the spool's prefix; every spool object gone once stored.
    assert s3_bucket.keys(SPOOL + "/up-") == []
    assert len(s3_bucket.keys(SPOOL + "/files/")) == 3
    assert not list((server.data_dir / "spool").glob("up-*"))


def instance_settings(s3_bucket: S3Bucket, redis: RedisServer, **more: str) -> dict:
    """One instance of a deployment with no shared disk: its own data directory (the
    server factory gives each one), the deployment's Redis and bucket."""
    return {
        "redis_url": redis.url,
        "spool_url": s3_bucket.url(SPOOL),
        "job_lease_seconds": str(LEASE_SECONDS),
        "rate_limit_uploads": "",
        **more,
    }


def test_tus_patches_alternate_between_two_instances(
    s3_bucket: S3Bucket, redis_db: RedisServer, server_factory
) -> None:
    shared = instance_settings(s3_bucket, redis_db, storage="s3")
    a, b = server_factory(**shared), server_factory(**shared)
    assert a.data_dir != b.data_dir
    chunks = [os.urandom(size) for size in (2 * MIB, 6 * MIB, 1 * MIB + 7, 3 * MIB, 5)]
    done = tus_upload_in([a, b], chunks)
    assert done["state"] == "done", done
    assert requests.get(done["link"], timeout=60).content == b"".join(chunks)
    assert requests.get(b.url + "/files/" + done["link"].rsplit("/", 1)[1], timeout=60).ok


def test_an_instance_sigkilled_mid_transfer_loses_nothing(
    s3_bucket: S3Bucket, redis_db: RedisServer, sim: MegaSim, server_factory
) -> None:
    """Instance A (its own disk) dies, master and workers SIGKILLed, with transfers to
    MEGA in flight, and is never started again: B, which shares only Redis and the
    bucket, takes each job over and stores it byte for byte, reading the spool objects
    A's requests wrote."""
    sim.reset(nodes=False)
    account = {"mega_api_url": sim.url, "mega_email": V2_EMAIL, "mega_password": V2_PASSWORD}
    shared = instance_settings(s3_bucket, redis_db, storage="mega", **account)
    a, b = server_factory(**shared), server_factory(**shared)
    contents = {f"in-flight-{n}.bin": os.urandom(2 * MIB + n) for n in range(3)}
    sim.throttle(256 * 1024)  # every transfer takes seconds: they are mid-way when A dies
    ids = {name: put_async(a, name, content) for name, content in contents.items()}

    def in_flight() -> bool:
        states = [job(a, job_id)["state"] for job_id in ids.values()]
        return set(states) <= {"queued", "transferring"} and "transferring" in states

    assert eventually(in_flight, timeout=30, interval=0.2), a.logs()[-3000:]
    time.sleep(1)
    kill(a)
    sim.throttle(0)

    for name, job_id in ids.items():
        done = wait_for_job(b, job_id, timeout=90)
        assert done["state"] == "done", done
        assert download(sim, done["link"]) == contents[name]
    assert s3_bucket.keys(SPOOL + "/up-") == []  # every spool object deleted once stored
    assert b.logs().count("took over job") >= 1  # (one still queued on A may start on B)


def test_an_instance_sigkilled_mid_copy_to_s3_storage_loses_nothing(
    s3_bucket: S3Bucket, redis_db: RedisServer, server_factory
) -> None:
    """The same with PAIMON_STORAGE=s3, where a job's transfer is a multipart copy of
    its spool object within the bucket: A is SIGKILLed with a copy begun and not
    completed (the bucket's server frozen from the moment the copy's multipart upload
    appears until A is dead, so the kill lands mid-copy for certain). B finishes every
    job, writing each stored object once, under the key A chose, byte for byte."""
    shared = instance_settings(s3_bucket, redis_db, storage="s3")
    a, b = server_factory(**shared), server_factory(**shared)
    # 48 MiB each: a copy within the bucket takes a few tenths of a second, the window
    # the test has to see it begun (about 0.15 s at 24 MiB, too near a stall under load).
    contents = {f"in-flight-{n}.bin": os.urandom(48 * MIB + n) for n in range(2)}
    client, stored = s3_bucket.server.client(), SPOOL + "/files/"

    def copies_begun() -> list[str]:
        listed = client.list_multipart_uploads(Bucket=s3_bucket.name, Prefix=stored)
        return [upload["UploadId"] for upload in listed.get("Uploads", [])]

    with ThreadPoolExecutor(len(contents)) as senders:
        sent = [senders.submit(put_async, a, *item) for item in contents.items()]
        ids = dict(zip(contents, (future.result() for future in sent), strict=True))
    assert eventually(lambda: bool(copies_begun()), timeout=30, interval=0.005), [
        job(a, job_id) for job_id in ids.values()
    ]
    with s3_bucket.server.paused():
        kill(a)
    begun = copies_begun()
    assert begun, "A completed its copy before it died"

    for name, job_id in ids.items():
        done = wait_for_job(b, job_id, timeout=60)
        assert done["state"] == "done", done
        assert requests.get(done["link"], timeout=60).content == contents[name]
    keys = s3_bucket.keys(stored)
    assert sorted(len(s3_bucket.read(key)) for key in keys) == sorted(map(len, contents.values()))
    assert sorted(s3_bucket.read(key) for key in keys) == sorted(contents.values())
    assert s3_bucket.keys(SPOOL + "/up-") == []
    assert b.logs().count("took over job") >= 1


def kill(server) -> None:
    """SIGKILL a server's master and workers, as a machine that dies: no grace."""
    for pid in [*worker_pids(server), server.process.pid]:
        os.kill(pid, signal.SIGKILL)
    server.process.wait(timeout=10)


def put_async(server, name: str, content: bytes) -> str:
    reply = requests.put(
        f"{server.url}/upload/{name}",
        data=content,
        headers={**ASYNC, "Accept": "application/json"},
        timeout=30,
    )
    assert reply.status_code == 202, reply.text
    return reply.json()["id"]


def test_the_bucket_away_for_a_while_loses_nothing(
    s3_bucket: S3Bucket, sim: MegaSim, server_factory
) -> None:
    """The S3 server stops while a job reads its spool object to MEGA, and starts again
    seconds later: meanwhile uploads get 503 with Retry-After, the job fails as
    retryable; its automatic retry stores it byte for byte once the bucket is back."""
    sim.reset(nodes=False)
    account = {"mega_api_url": sim.url, "mega_email": V2_EMAIL, "mega_password": V2_PASSWORD}
    server = server_factory(storage="mega", spool_url=s3_bucket.url(SPOOL), **account)
    content = os.urandom(3 * MIB + 1)
    # The answer to the transfer's upload-URL request held: the bucket stops after the
    # transfer has begun and before it reads the spool object (a reader's 8 MiB buffer
    # takes this object in one GET, so a read begun earlier would need the bucket no more).
    sim.pause("u", 6)
    sim.throttle(256 * 1024)
    job_id = put_async(server, "through.bin", content)
    assert eventually(lambda: job(server, job_id)["state"] == "transferring", timeout=30)
    s3_bucket.server.stop()
    try:
        refused = requests.put(f"{server.url}/upload/late.bin", data=b"x" * 1000, timeout=60)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"] == "spool_unavailable"
        assert int(refused.headers["Retry-After"]) > 0
        failed = wait_for_jobs(
            server, [job_id], lambda views: views[job_id]["state"] == "failed", timeout=60
        )[job_id]
        assert failed["retryable"] is True
    finally:
        sim.throttle(0)
        s3_bucket.server.restart()
    done = wait_for_jobs(
        server, [job_id], lambda views: views[job_id]["state"] == "done", timeout=90
    )[job_id]
    assert download(sim, done["link"]) == content
