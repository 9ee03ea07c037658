"""PAIMON_SPOOL_URL: the spool in a real S3-compatible server (SeaweedFS, started by
tests/support/s3.py): bodies of every door stream into multipart uploads, tus PATCHes
become parts (short ones kept as a tail object, as tusd's s3store does), and any
instance carries on an upload or a job another began."""

from __future__ import annotations

import hashlib
import os

import requests

from tests.support.s3 import S3Bucket
from tests.support.uploads import MIB, post_file, put_file, tus_create, tus_patch, wait_for_job

SPOOL = "spool"


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
