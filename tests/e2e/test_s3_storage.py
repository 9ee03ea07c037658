"""PAIMON_STORAGE=s3: stored files in a real S3-compatible server (SeaweedFS, started by
tests/support/s3.py), end to end through gunicorn, reached through the standard AWS
variables exactly as deployed."""

from __future__ import annotations

import os
import sys

import requests

from tests.support.console import sign_in
from tests.support.doctor import by_name, run_doctor
from tests.support.known_secrets import ADMIN_TOKEN, S3_SECRET_KEY, WRONG_S3_SECRET_KEY
from tests.support.s3 import S3Bucket
from tests.support.servers import eventually
from tests.support.uploads import post_file, put_file, tus_create, tus_patch, wait_for_job

PREFIX = "stored"
AWS_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def test_every_door_stores_in_the_bucket_and_downloads_back(
    s3_bucket: S3Bucket, server_factory
) -> None:
    server = server_factory(storage="s3", s3_storage_url=s3_bucket.url(PREFIX))
    put_body = os.urandom(9 * 1024 * 1024 + 5)  # past one 8 MiB part: a multipart upload
    form_body, tus_body = os.urandom(70_000), os.urandom(300_000)

    put = put_file(server, "put.bin", put_body)
    form = post_file(server, form_body, "form.bin").json()
    created = tus_create(server, len(tus_body), **{"Upload-Metadata": "filename dHVzLmJpbg=="})
    location = server.url + created.headers["Location"].removeprefix(server.url)
    assert tus_patch(location, 0, tus_body).status_code == 204
    tus_id = location.rstrip("/").rsplit("/", 1)[1]
    tus = wait_for_job(server, tus_id)
    assert tus["state"] == "done", tus

    for reply, body, name in ((put, put_body, "put.bin"), (form, form_body, "form.bin")):
        assert reply["service"] == "s3"
        download = requests.get(reply["link"], timeout=60)
        assert download.status_code == 200
        assert download.content == body
        assert download.headers["Content-Disposition"] == f"attachment; filename={name}"
    assert requests.get(tus["link"], timeout=60).content == tus_body
    keys = s3_bucket.keys(PREFIX + "/")
    assert len(keys) == 3
    assert sorted(len(s3_bucket.read(key)) for key in keys) == sorted(
        map(len, (put_body, form_body, tus_body))
    )
    assert list((server.data_dir / "files").glob("*")) == []  # nothing on the local disk


def test_downloads_answer_ranges_conditions_limits_and_deletes(
    s3_bucket: S3Bucket, server_factory
) -> None:
    server = server_factory(
        storage="s3", s3_storage_url=s3_bucket.url(PREFIX), admin_tokens=f"owner={ADMIN_TOKEN}"
    )
    content = os.urandom(100_000)
    body = put_file(server, "r.bin", content)
    link = body["link"]

    part = requests.get(link, headers={"Range": "bytes=1000-1999"}, timeout=10)
    assert part.status_code == 206
    assert part.content == content[1000:2000]
    assert part.headers["Content-Range"] == "bytes 1000-1999/100000"
    whole = requests.get(link, timeout=10)
    assert whole.headers["ETag"]
    again = requests.get(link, headers={"If-None-Match": whole.headers["ETag"]}, timeout=10)
    assert again.status_code == 304

    once = put_file(server, "once.txt", b"only once", **{"Max-Downloads": "1"})
    assert requests.get(once["link"], timeout=10).content == b"only once"
    assert requests.get(once["link"], timeout=10).status_code == 410

    assert requests.delete(body["delete_url"], timeout=30).status_code in (200, 204)
    assert requests.get(link, timeout=10).status_code in (404, 410)
    by_owner = put_file(server, "owner.txt", b"the console deletes this")
    deleted = requests.delete(
        f"{server.url}/api/uploads/{by_owner['id']}",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=30,
    )
    assert deleted.status_code == 200, deleted.text
    assert requests.get(by_owner["link"], timeout=10).status_code in (404, 410)
    assert len(s3_bucket.keys(PREFIX + "/")) == 1  # only the used-up one, until the sweep


def test_redirect_mode_hands_out_presigned_urls(s3_bucket: S3Bucket, server_factory) -> None:
    server = server_factory(
        storage="s3", s3_storage_url=s3_bucket.url(PREFIX), s3_downloads="redirect"
    )
    content = os.urandom(50_000)
    link = put_file(server, "big.bin", content)["link"]
    reply = requests.get(link, allow_redirects=False, timeout=10)
    assert reply.status_code == 302
    assert reply.headers["Location"].startswith(s3_bucket.server.endpoint)
    assert "Signature" in reply.headers["Location"]
    assert requests.get(reply.headers["Location"], timeout=10).content == content
    limited = put_file(server, "l.bin", b"counted", **{"Max-Downloads": "2"})["link"]
    assert requests.get(limited, allow_redirects=False, timeout=10).status_code == 200


def test_wrong_credentials_are_one_line_without_the_secret(
    s3_bucket: S3Bucket, server_factory, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", WRONG_S3_SECRET_KEY)
    server = server_factory(storage="s3", spool_url=s3_bucket.url("spool"))
    ready = requests.get(f"{server.url}/readyz", timeout=30)
    assert ready.status_code == 503
    assert set(ready.json()["failed"]) == {"spool", "storage"}
    for check in ("spool", "storage"):
        detail = ready.json()["checks"][check]["detail"]
        assert "refused the credentials" in detail
        assert "\n" not in detail
    assert WRONG_S3_SECRET_KEY not in ready.text and S3_SECRET_KEY not in ready.text
    refused = requests.put(f"{server.url}/upload/a.txt", data=b"kept nowhere", timeout=30)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"]
    assert WRONG_S3_SECRET_KEY not in refused.text

    code, report = run_doctor(
        sys.executable,
        tmp_path,
        PAIMON_STORAGE="s3",
        PAIMON_SPOOL_URL=s3_bucket.url("spool"),
        PAIMON_DATA_DIR=str(tmp_path / "data"),
    )
    assert code != 0
    s3 = by_name(report)["s3"]
    assert not s3["ok"]
    assert "refused the credentials" in s3["detail"]
    assert "AWS_SECRET_ACCESS_KEY" in s3["detail"]
    assert "refused the credentials" in by_name(report)["spool"]["detail"]
    assert WRONG_S3_SECRET_KEY not in str(report)


def test_the_sweep_removes_expired_and_used_up_objects_from_the_bucket(
    s3_bucket: S3Bucket, server_factory
) -> None:
    """Max-Days and Max-Downloads with PAIMON_STORAGE=s3: the workers' sweep (every
    0.5 s with a 1.5 s lease) deletes the object from the bucket, and the link answers
    410 as for local storage."""
    server = server_factory(
        storage="s3", s3_storage_url=s3_bucket.url(PREFIX), job_lease_seconds="1.5"
    )
    kept = put_file(server, "kept.bin", b"no limit: stays")
    soon = put_file(server, "soon.bin", b"two seconds", **{"Max-Days": f"{2 / 86_400:.6f}"})
    once = put_file(server, "once.bin", b"one download", **{"Max-Downloads": "1"})
    assert len(s3_bucket.keys(PREFIX + "/")) == 3
    assert requests.get(once["link"], timeout=10).content == b"one download"

    def removed() -> bool:
        views = [
            requests.get(f"{server.url}/status/{r['id']}", timeout=10).json() for r in (soon, once)
        ]
        return all(view["removed_at"] is not None for view in views)

    assert eventually(removed, timeout=20)
    assert s3_bucket.keys(PREFIX + "/") == [PREFIX + "/" + kept["link"].rsplit("/", 1)[1]]
    for reply, because in ((soon, "expired"), (once, "downloaded")):
        gone = requests.get(reply["link"], timeout=10)
        assert (gone.status_code, gone.json()["error"]) == (410, "gone")
        assert because in gone.json()["message"]
    assert requests.get(kept["link"], timeout=10).content == b"no limit: stays"


def test_no_region_or_credentials_at_all_is_one_line_naming_them(
    server_factory, tmp_path, monkeypatch
) -> None:
    """PAIMON_SPOOL_URL and PAIMON_STORAGE=s3 with no AWS variable, profile or role:
    /readyz and doctor name the variables to set, in one line, not boto3's exception."""
    for name in (*AWS_VARIABLES, "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    # No profile or instance role either, whatever this machine has.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    named = ("AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")

    def says_what_to_set(detail: str) -> None:
        assert detail.startswith("No S3 credentials for s3://uploads/"), detail
        assert all(name in detail for name in named), detail
        assert "\n" not in detail and "Error" not in detail, detail

    server = server_factory(storage="s3", spool_url="s3://uploads/spool")
    ready = requests.get(f"{server.url}/readyz", timeout=30)
    assert ready.status_code == 503
    assert set(ready.json()["failed"]) == {"spool", "storage"}
    for check in ("spool", "storage"):
        says_what_to_set(ready.json()["checks"][check]["detail"])
    refused = requests.put(f"{server.url}/upload/a.txt", data=b"kept nowhere", timeout=30)
    assert (refused.status_code, refused.json()["error"]) == (503, "spool_unavailable")
    assert "Error" not in refused.text  # the uploader is told to try again; the log says why
    assert "No S3 credentials for s3://uploads/spool" in server.logs()

    code, report = run_doctor(
        sys.executable,
        tmp_path,
        PAIMON_STORAGE="s3",
        PAIMON_SPOOL_URL="s3://uploads/spool",
        PAIMON_DATA_DIR=str(tmp_path / "data"),
    )
    assert code != 0
    for check in ("s3", "spool"):
        assert not by_name(report)[check]["ok"]
        says_what_to_set(by_name(report)[check]["detail"])


def test_the_console_shows_the_spool_as_its_bucket(s3_bucket: S3Bucket, server_factory) -> None:
    """With PAIMON_SPOOL_URL the console's storage panel and /api/totals name the
    spool's bucket (no endpoint, no credential) instead of the data directory's disk."""
    server = server_factory(
        storage="s3", spool_url=s3_bucket.url("spool"), admin_tokens=f"owner={ADMIN_TOKEN}"
    )
    owner = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    storage = requests.get(f"{server.url}/api/totals", headers=owner, timeout=30).json()["storage"]
    assert storage == {"backend": "s3", "spool_url": s3_bucket.url("spool")}
    session = requests.Session()
    assert sign_in(session, server.url, ADMIN_TOKEN).status_code == 303
    page = session.get(f"{server.url}/admin", timeout=30).text
    assert f'<dd id="spool-url">{s3_bucket.url("spool")} ' in page
    assert "Disk free" not in page and "not answered yet" not in page
    assert S3_SECRET_KEY not in page and s3_bucket.server.access_key not in page
