"""Issue 30: signed webhooks, delivered at least once from the outbox in the job store.

Every receiver is a real HTTP server on 127.0.0.1 (paimon_devtools/receiver.py), every
signature is checked with the Standard Webhooks library from PyPI, and the servers are
real gunicorns, on local storage, on the MEGA emulator and on one Redis.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import requests

from paimon_devtools.megasim import V2_EMAIL, MegaSim
from paimon_devtools.receiver import Receiver
from tests.support.console import csrf_of, sign_in
from tests.support.known_secrets import ADMIN_TOKEN, METRICS_TOKEN
from tests.support.redis import RedisServer
from tests.support.servers import (
    ServerProcess,
    eventually,
    free_port,
    start_mega_server,
    start_server,
    worker_pids,
)
from tests.support.uploads import post_file
from tests.support.webhooks import hooked, one, verified

JSON = {"Accept": "application/json"}
DAY = 86_400
SOON = f"{2.0 / DAY:.6f}"  # Max-Days for "in two seconds"
QUICK = {"job_lease_seconds": "1.5"}  # the expiry sweep runs every half second


def upload(server: ServerProcess, content: bytes, name: str = "r.bin", **headers: str) -> dict:
    reply = post_file(server, content, name, headers={**JSON, **headers})
    assert reply.status_code in (200, 507), reply.text
    return reply.json()


def check_stored_deleted_expired(server: ServerProcess, receiver: Receiver, backend: str) -> None:
    content = os.urandom(70_000)
    body = upload(server, content, "naïve.bin")
    stored = one(receiver, "upload.stored")
    assert stored["data"] == {
        "job_id": body["id"],
        "filename": "naïve.bin",
        "backend": backend,
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "uploader_label": None,
        "upload_link": None,
        "link": stored["data"]["link"],
        "expires_at": None,
        "max_downloads": None,
    }
    assert stored["data"]["link"] == body["link"]
    assert stored["timestamp"].endswith("+00:00")

    assert requests.delete(body["delete_url"], timeout=30).status_code in (200, 204)
    deleted = one(receiver, "upload.deleted")
    assert deleted["data"]["job_id"] == body["id"]
    assert deleted["data"]["deleted_by"] == "delete_link"

    short = upload(server, b"short-lived", "s.txt", **{"Max-Days": SOON})
    expired = one(receiver, "upload.expired", timeout=20)
    assert expired["data"]["job_id"] == short["id"]
    assert expired["data"]["reason"] == "expired"
    ids = [r.id for r in receiver.received]
    assert len(ids) == len(set(ids)) == 4  # stored twice, deleted, expired: once each


def public(port: int) -> dict[str, str]:
    """A server's settings that make its links the ones an event carries."""
    return {"port": port, "public_url": f"http://127.0.0.1:{port}"}  # type: ignore[dict-item]


def test_each_event_on_local_storage(receiver: Receiver, tmp_path: Path) -> None:
    """The three events of check_stored_deleted_expired, then upload.failed: the files
    folder replaced by a plain file, so storing fails, and with PAIMON_RETRY_HOURS=0 no
    automatic retry is to come."""
    settings = {**public(free_port()), **hooked(receiver), **QUICK, "retry_hours": "0"}
    server = start_server(tmp_path, **settings)
    try:
        check_stored_deleted_expired(server, receiver, "local")
        files = server.data_dir / "files"
        files.rename(server.data_dir / "files-gone")
        files.write_bytes(b"not a folder")
        refused = post_file(server, b"nowhere to go", "f.bin", headers=JSON)
        assert refused.status_code == 502, refused.text
        failed = one(receiver, "upload.failed")
        assert failed["data"]["job_id"] == refused.json()["id"]
        assert failed["data"]["backend"] == "local"
        assert failed["data"]["error"] == refused.json()["message"]
        assert failed["data"]["error_code"] == refused.json()["error"] == "storage_failed"
        assert "cannot be written" in failed["data"]["error"]
        assert str(server.data_dir) not in refused.text  # the path is in the log only
        assert failed["data"]["attempts"] == 1
        assert len(receiver.received) == 5  # one more: no retry announced it again
        files.unlink()
        (server.data_dir / "files-gone").rename(files)
        metrics = requests.get(f"{server.url}/metrics", timeout=10).text
        assert 'paimon_webhooks_total{outcome="sent"} 5.0' in metrics
        assert 'paimon_webhook_deliveries{state="sent"} 5.0' in metrics
        assert 'paimon_webhook_deliveries{state="pending"} 0.0' in metrics
    finally:
        server.stop()


def test_each_event_on_mega(receiver: Receiver, megasim: MegaSim, tmp_path: Path) -> None:
    server = start_mega_server(tmp_path, megasim, **hooked(receiver), **QUICK)
    try:
        check_stored_deleted_expired(server, receiver, "mega")
        megasim.set_quota(V2_EMAIL, 1)  # over quota: a failure no retry mends
        refused = upload(server, os.urandom(50_000), "q.bin")
        failed = one(receiver, "upload.failed")
        assert failed["data"]["job_id"] == refused["id"]
        assert failed["data"]["error_code"] == "storage_full"
        assert failed["data"]["error"] == refused["message"]
        assert failed["data"]["attempts"] == 1
    finally:
        server.stop()


def test_the_owner_deletes_from_the_console_and_the_api(receiver: Receiver, tmp_path: Path) -> None:
    """upload.deleted says where the owner asked: ``console`` (the console's form) or
    ``api`` (DELETE /api/uploads/<id>)."""
    server = start_server(tmp_path, admin_tokens=f"owner={ADMIN_TOKEN}", **hooked(receiver))
    try:
        by_api, by_console = upload(server, b"by the API"), upload(server, b"by the console")
        reply = requests.delete(
            f"{server.url}/api/uploads/{by_api['id']}",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
        session = requests.Session()
        assert sign_in(session, server.url, ADMIN_TOKEN).status_code == 303
        page = session.get(f"{server.url}/admin/uploads/{by_console['id']}", timeout=10).text
        csrf = csrf_of(page)
        reply = session.post(
            f"{server.url}/admin/uploads/{by_console['id']}/delete",
            files={"csrf_token": (None, csrf)},
            allow_redirects=False,
            timeout=10,
        )
        assert reply.status_code == 303, reply.text
        two = eventually(lambda: len(receiver.of_type("upload.deleted")) == 2, timeout=15)
        assert two, receiver.received
        deleted = {
            event["data"]["job_id"]: event["data"]["deleted_by"]
            for event in map(verified, receiver.of_type("upload.deleted"))
        }
        assert deleted == {by_api["id"]: "api", by_console["id"]: "console"}
    finally:
        server.stop()


def test_500_three_times_then_200_is_four_attempts_of_one_id(server_factory) -> None:
    receiver = Receiver(statuses=[500, 500, 500])
    try:
        server = server_factory(**hooked(receiver))
        started = time.time()
        upload(server, b"retried")
        assert eventually(lambda: len(receiver.received) >= 4, timeout=30)
        assert receiver.received[3].at - started < 30
        assert receiver.received[0].at - started < 1.5  # delivery starts at once
        assert len({r.id for r in receiver.received}) == 1
        assert len({r.body for r in receiver.received}) == 1
        for received in receiver.received:
            verified(received)
        gaps = [b.at - a.at for a, b in zip(receiver.received, receiver.received[1:], strict=False)]
        assert gaps[0] >= 0.9 and gaps[1] > gaps[0]  # backing off
        time.sleep(3)
        assert len(receiver.received) == 4  # sent: then no more
    finally:
        receiver.close()


def test_a_4xx_stops_the_delivery_and_the_owner_sends_it_again(server_factory) -> None:
    receiver = Receiver(statuses=[410])
    owner = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    try:
        server = server_factory(**hooked(receiver), metrics_token=METRICS_TOKEN)
        body = upload(server, b"refused")
        assert eventually(lambda: len(receiver.received) == 1)
        time.sleep(2.5)
        assert len(receiver.received) == 1
        metrics = requests.get(f"{server.url}/metrics", headers=owner, timeout=10).text
        assert 'paimon_webhooks_total{outcome="failed"} 1.0' in metrics

        listing = f"{server.url}/webhooks/deliveries"
        assert requests.get(listing, timeout=10).status_code == 401
        view = requests.get(listing, params={"state": "failed"}, headers=owner, timeout=10)
        (failed,) = view.json()["deliveries"]
        assert view.json()["counts"] == {"pending": 0, "sent": 0, "failed": 1}
        assert (failed["job_id"], failed["event"]) == (body["id"], "upload.stored")
        assert (failed["attempts"], failed["last_status"]) == (1, 410)
        assert failed["id"] == receiver.received[0].id
        assert "job" not in failed and "lease_owner" not in failed

        again = requests.post(f"{listing}/{failed['id']}/resend", headers=owner, timeout=10)
        assert again.status_code == 202 and again.json()["state"] == "pending"
        assert eventually(lambda: len(receiver.received) == 2)
        assert receiver.received[1].id == failed["id"]
        assert receiver.received[1].body == receiver.received[0].body
        assert eventually(
            lambda: requests.get(listing, headers=owner, timeout=10).json()["counts"]["sent"] == 1
        )
        missing = requests.post(f"{listing}/msg_nothing/resend", headers=owner, timeout=10)
        assert missing.status_code == 404
    finally:
        receiver.close()


def test_sigkill_during_delivery_delivers_after_restart_with_the_same_id(
    tmp_path: Path,
) -> None:
    """The receiver holds the first attempt unanswered; the whole server is SIGKILLed
    (master and workers) meanwhile; restarted on the same data directory, it sends
    the event again, with the same webhook-id and body."""
    receiver = Receiver(statuses=[-60])
    try:
        first = start_server(tmp_path, **hooked(receiver))
        upload(first, b"kept in the outbox")
        assert eventually(lambda: receiver.received, timeout=10)
        workers = worker_pids(first)  # killed with their master, as in a machine's crash
        first.process.kill()
        for worker in workers:
            os.kill(worker, signal.SIGKILL)
        first.process.wait(10)

        again = start_server(tmp_path, **hooked(receiver))
        try:
            assert eventually(lambda: len(receiver.received) >= 2, timeout=30)
            held, sent = receiver.received[:2]
            assert (sent.id, sent.body) == (held.id, held.body)
            assert verified(sent)["type"] == "upload.stored"
        finally:
            again.stop()
    finally:
        receiver.close()


def test_two_instances_on_one_redis_deliver_each_event_once(
    redis_db, receiver: Receiver, server_factory
) -> None:
    shared = {**hooked(receiver), "redis_url": redis_db.url}
    one_instance = server_factory(**shared)
    other = server_factory(**shared)
    bodies = [upload(server, os.urandom(1000)) for server in (one_instance, other) * 5]
    assert eventually(lambda: len(receiver.received) >= 10, timeout=30)
    time.sleep(1.5)  # nothing more comes
    ids = [r.id for r in receiver.received]
    assert len(ids) == len(set(ids)) == 10
    assert sorted(verified(r)["data"]["job_id"] for r in receiver.received) == sorted(
        b["id"] for b in bodies
    )


def test_redis_down_the_deliveries_view_is_503_and_the_sender_goes_on_after(
    tmp_path_factory, receiver: Receiver, server_factory
) -> None:
    """The owner's view and "send again" answer 503 ``store_unavailable`` (with
    Retry-After, at once) while Redis is down, as the other routes that need the store
    do, not 500; /healthz still answers; and the sender, whose passes failed meanwhile,
    delivers the next event once Redis is back."""
    redis = RedisServer.start(tmp_path_factory.mktemp("redis-down"))
    owner = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    try:
        server = server_factory(
            **hooked(receiver), redis_url=redis.url, metrics_token=METRICS_TOKEN
        )
        upload(server, b"before the outage")
        assert eventually(lambda: len(receiver.received) == 1)
        redis.stop()
        listing = f"{server.url}/webhooks/deliveries"
        for reply in (
            requests.get(listing, headers=owner, timeout=30),
            requests.post(f"{listing}/msg_any/resend", headers=owner, timeout=30),
        ):
            assert reply.status_code == 503, reply.text
            assert reply.json()["error"] == "store_unavailable"
            assert int(reply.headers["Retry-After"]) > 0
        assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
        metrics = requests.get(f"{server.url}/metrics", headers=owner, timeout=30)
        assert metrics.status_code == 200  # the counts are left out, the rest is there
        assert "paimon_webhook_deliveries{" not in metrics.text
        time.sleep(1)  # a few of the sender's passes fail
        redis.restart()
        upload(server, b"after the outage")
        assert eventually(lambda: len(receiver.received) == 2, timeout=15)
        assert verified(receiver.received[1])["type"] == "upload.stored"
        counts = requests.get(listing, headers=owner, timeout=30).json()["counts"]
        assert counts["sent"] == 1  # the restarted Redis is empty: the new event only
    finally:
        redis.stop()
