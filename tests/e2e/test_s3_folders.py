"""Folders with PAIMON_STORAGE=s3 (issue 31, item 2, as local storage has them): the
folder an upload names is kept in its object's metadata, beside its name, and the
owner's API shows it; objects stay under one prefix, named by their random key."""

from __future__ import annotations

from urllib.parse import unquote

import requests

from tests.support.known_secrets import ADMIN_TOKEN
from tests.support.s3 import S3Bucket

PREFIX = "stored"


def test_the_folder_is_kept_in_the_object_metadata(s3_bucket: S3Bucket, server_factory) -> None:
    server = server_factory(
        storage="s3", s3_storage_url=s3_bucket.url(PREFIX), admin_tokens=f"owner={ADMIN_TOKEN}"
    )
    reply = requests.put(
        f"{server.url}/upload/report.pdf?folder=clients/acme/2026",
        data=b"%PDF-1.7 folders",
        headers={"Accept": "application/json"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    job_id = reply.json()["id"]
    owner = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    view = requests.get(f"{server.url}/api/uploads/{job_id}", headers=owner, timeout=10).json()
    assert view["folder"] == "clients/acme/2026"
    (key,) = s3_bucket.keys(PREFIX + "/")
    head = s3_bucket.server.client().head_object(Bucket=s3_bucket.name, Key=key)
    assert unquote(head["Metadata"]["folder"]) == "clients/acme/2026"
    assert unquote(head["Metadata"]["filename"]) == "report.pdf"
    assert requests.get(reply.json()["link"], timeout=30).content == b"%PDF-1.7 folders"
