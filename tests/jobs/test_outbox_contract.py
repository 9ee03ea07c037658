"""The outbox contract (paimon/jobs/outbox.py), run against SQLite and a real Redis:
deliveries are written with the job's change or not at all, and leased as jobs are."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from paimon.jobs.codec import snapshot_fields
from paimon.jobs.model import JobState
from paimon.jobs.outbox import Announcement, DeliveryNotFound, DeliveryState
from paimon.jobs.store import JobStore, LeaseLost, StateConflict
from tests.support.jobstores import make_job

A = "https://a.example/hook"
B = "https://b.example/hook"


def announcement(event: str = "upload.stored", *endpoints: str, **extra: object) -> Announcement:
    return Announcement(
        event=event, endpoints=endpoints or (A,), give_up_at=time.time() + 3600, **extra
    )


def test_an_update_writes_one_delivery_per_endpoint_holding_the_job_as_changed(
    store: JobStore,
) -> None:
    job = make_job(state=JobState.TRANSFERRING, size=5 * 1024**3 + 1, sha256="ab" * 32)
    store.create(job)
    note = announcement("upload.stored", A, B)
    done = store.update(
        job.id, announce=note, state=JobState.DONE, link="https://x/y", storage_key="k"
    )
    store.update(job.id, link="https://changed/later")  # the event keeps the first
    deliveries = [store.get_delivery(delivery_id) for delivery_id in note.ids]
    assert [d.endpoint for d in deliveries] == [A, B]
    for delivery in deliveries:
        assert delivery.event == "upload.stored"
        assert delivery.job_id == job.id
        assert delivery.state is DeliveryState.PENDING
        assert delivery.attempts == 0
        assert delivery.occurred_at == pytest.approx(done.updated_at)
        assert delivery.next_attempt_at == pytest.approx(done.updated_at)
        kept = snapshot_fields(delivery)
        assert kept["state"] is JobState.DONE
        assert kept["link"] == "https://x/y"
        assert kept["size"] == 5 * 1024**3 + 1
        assert kept["sha256"] == "ab" * 32
        assert kept["error"] is None
        assert "spool_path" not in kept and "delete_digest" not in kept
    assert store.delivery_counts()[DeliveryState.PENDING] == 2


def test_a_refused_update_writes_no_delivery(store: JobStore) -> None:
    job = make_job(state=JobState.DONE)
    store.create(job)
    note = announcement()
    with pytest.raises(StateConflict):
        store.update(job.id, expect={JobState.TRANSFERRING}, announce=note, state=JobState.FAILED)
    assert store.get_delivery(note.ids[0]) is None
    assert store.delivery_counts()[DeliveryState.PENDING] == 0


def test_a_delete_announces_the_job_as_it_was_once(store: JobStore) -> None:
    job = make_job(state=JobState.DONE, link="https://x/y", storage_key="k")
    store.create(job)
    note = announcement("upload.deleted", detail="delete_link")
    before = time.time()
    gone = store.delete(job.id, announce=note)
    assert gone is not None and gone.id == job.id
    assert store.get(job.id) is None
    delivery = store.get_delivery(note.ids[0])
    assert delivery.detail == "delete_link"
    assert delivery.occurred_at >= before
    assert snapshot_fields(delivery)["link"] == "https://x/y"
    again = announcement("upload.deleted")
    assert store.delete(job.id, announce=again) is None  # gone already: nothing announced
    assert store.get_delivery(again.ids[0]) is None


def test_claims_take_due_deliveries_once_until_the_lease_runs_out(store: JobStore) -> None:
    job = make_job()
    store.create(job)
    note = announcement("upload.stored", A, B)
    store.update(job.id, announce=note, state=JobState.DONE)
    now = time.time() + 1
    first = store.claim_deliveries(A, "one", now, ttl=30, limit=10)
    assert [d.id for d in first] == [note.ids[0]]
    assert store.claim_deliveries(A, "two", now, ttl=30, limit=10) == []
    assert store.delivery_leases() == {note.ids[0]: "one"}
    taken_over = store.claim_deliveries(A, "two", now + 31, ttl=30, limit=10)  # one died
    assert [d.id for d in taken_over] == [note.ids[0]]
    with pytest.raises(LeaseLost):
        store.settle_delivery(note.ids[0], "one", attempts=1)
    sent = store.settle_delivery(
        note.ids[0], "two", state=DeliveryState.SENT, attempts=1, last_status=200,
        next_attempt_at=None, sent_at=now,
    )  # fmt: skip
    assert sent.state is DeliveryState.SENT and sent.lease_owner is None
    assert store.claim_deliveries(A, "three", now + 100, ttl=30, limit=10) == []
    counts = store.delivery_counts()
    assert (counts[DeliveryState.SENT], counts[DeliveryState.PENDING]) == (1, 1)


def test_a_retry_is_due_at_its_next_attempt_and_a_release_makes_it_due_at_once(
    store: JobStore,
) -> None:
    job = make_job()
    store.create(job)
    note = announcement()
    store.update(job.id, announce=note, state=JobState.DONE)
    now = time.time() + 1
    (delivery,) = store.claim_deliveries(A, "one", now, ttl=30, limit=10)
    store.settle_delivery(delivery.id, "one", attempts=1, last_status=500, next_attempt_at=now + 5)
    assert store.claim_deliveries(A, "one", now + 4, ttl=30, limit=10) == []
    (again,) = store.claim_deliveries(A, "one", now + 5, ttl=30, limit=10)
    assert again.attempts == 1 and again.last_status == 500
    store.release_delivery_lease(delivery.id, "one")
    assert [d.id for d in store.claim_deliveries(A, "two", now + 5, 30, 10)] == [delivery.id]


def test_many_claimers_at_once_get_each_delivery_once(store: JobStore) -> None:
    notes = []
    for _ in range(20):
        job = make_job()
        store.create(job)
        notes.append(announcement())
        store.update(job.id, announce=notes[-1], state=JobState.DONE)
    now = time.time() + 1
    with ThreadPoolExecutor(8) as pool:
        claims = list(
            pool.map(lambda owner: store.claim_deliveries(A, owner, now, 30, 5), map(str, range(8)))
        )
    claimed = [d.id for batch in claims for d in batch]
    assert len(claimed) == len(set(claimed))  # never one delivery to two claimers
    rest = store.claim_deliveries(A, "last", now, 30, 20)  # none lost to the race
    assert sorted(claimed + [d.id for d in rest]) == sorted(n.ids[0] for n in notes)


def test_give_up_fails_overdue_deliveries_and_resend_makes_them_pending(store: JobStore) -> None:
    job = make_job()
    store.create(job)
    note = Announcement(event="upload.failed", endpoints=(A,), give_up_at=time.time() - 1)
    store.update(job.id, announce=note, state=JobState.FAILED, error="boom")
    assert store.give_up_deliveries(time.time(), "time is up") == 1
    failed = store.get_delivery(note.ids[0])
    assert failed.state is DeliveryState.FAILED and failed.last_error == "time is up"
    assert store.claim_deliveries(A, "one", time.time() + 1, 30, 10) == []
    resent = store.resend_delivery(note.ids[0], time.time(), time.time() + 3600)
    assert resent.state is DeliveryState.PENDING
    (claimed,) = store.claim_deliveries(A, "one", time.time() + 1, 30, 10)
    with pytest.raises(StateConflict):  # in flight
        store.resend_delivery(claimed.id, time.time(), time.time() + 3600)
    with pytest.raises(DeliveryNotFound):
        store.resend_delivery("msg_nothing", time.time(), time.time() + 3600)


def test_listing_is_newest_first_by_state_with_a_cursor_and_purge_forgets_old_ones(
    store: JobStore,
) -> None:
    ids = []
    for _ in range(3):
        job = make_job()
        store.create(job)
        note = announcement()
        store.update(job.id, announce=note, state=JobState.DONE)
        ids.append(note.ids[0])
        time.sleep(0.01)
    listed = store.list_deliveries()
    assert [d.id for d in listed] == ids[::-1]
    newest = listed[0]
    page = store.list_deliveries(before=(newest.occurred_at, newest.id), limit=1)
    assert [d.id for d in page] == [ids[1]]
    (claimed, *_) = store.claim_deliveries(A, "one", time.time() + 1, 30, 1)
    store.settle_delivery(claimed.id, "one", state=DeliveryState.SENT, next_attempt_at=None)
    assert [d.id for d in store.list_deliveries(state=DeliveryState.SENT)] == [claimed.id]
    assert store.purge_deliveries(time.time() + 1) == 1
    assert store.get_delivery(claimed.id) is None
    assert len(store.list_deliveries()) == 2
