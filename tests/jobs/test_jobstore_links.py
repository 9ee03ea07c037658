"""The upload link contract (paimon/jobs/links.py), run against SQLite and a real Redis:
links kept and found, claims counted within their limits and refused with the right
reason, and exactly as many claims let in as a link allows when many processes claim
at once."""

from __future__ import annotations

import secrets
import time

import pytest

from paimon.jobs.links import LinkNotFound, LinkRefused, UploadLink, UploadLinkStore
from tests.support.jobstores import StoreSpec, in_processes

NOW = 1_800_000_000.0


def make_link(**fields: object) -> UploadLink:
    values = {
        "id": secrets.token_hex(8),
        "token_digest": secrets.token_hex(32),
        "created_at": NOW,
        **fields,
    }
    return UploadLink(**values)  # type: ignore[arg-type]


def test_every_field_round_trips(store: UploadLinkStore) -> None:
    link = make_link(
        label="Photos from the wedding ✓",
        created_by="owner",
        expires_at=NOW + 0.1 + 0.2,
        max_files=10,
        max_file_bytes=5 * 1024**3 + 1,
        max_total_bytes=50 * 1024**3,
        max_days=1.5,
        folder="Wedding",
        files=3,
        bytes=12345,
        revoked_at=NOW + 7.25,
        sealed_token="gAAAAA-sealed==",
    )
    store.create_link(link)
    assert store.get_link(link.id) == link
    assert store.find_link(link.token_digest) == link


def test_unknown_links(store: UploadLinkStore) -> None:
    assert store.get_link("nope") is None
    assert store.find_link("0" * 64) is None
    assert store.revoke_link("nope", NOW) is None
    with pytest.raises(LinkNotFound):
        store.claim_link("nope", 1, 0, NOW)


def test_create_refuses_an_existing_id(store: UploadLinkStore) -> None:
    link = make_link(label="first")
    store.create_link(link)
    with pytest.raises(ValueError, match="exists"):
        store.create_link(make_link(id=link.id, label="second"))
    assert store.get_link(link.id).label == "first"


def test_links_are_listed_newest_first(store: UploadLinkStore) -> None:
    links = [make_link(created_at=NOW + n) for n in range(5)]
    for link in links:
        store.create_link(link)
    assert store.list_links() == list(reversed(links))


def test_claims_count_within_the_limits(store: UploadLinkStore) -> None:
    link = make_link(max_files=3, max_total_bytes=1000)
    store.create_link(link)
    assert store.claim_link(link.id, 1, 400, NOW).files == 1
    counted = store.claim_link(link.id, 2, 600, NOW)
    assert (counted.files, counted.bytes) == (3, 1000)
    with pytest.raises(LinkRefused) as refused:
        store.claim_link(link.id, 1, 0, NOW)
    assert refused.value.reason == "files" and refused.value.link.files == 3
    store.release_link(link.id, 1, 300)
    with pytest.raises(LinkRefused) as refused:
        store.claim_link(link.id, 1, 301, NOW)
    assert refused.value.reason == "bytes"
    assert store.claim_link(link.id, 1, 300, NOW).bytes == 1000
    assert store.get_link(link.id).files == 3


def test_without_limits_every_claim_counts(store: UploadLinkStore) -> None:
    link = make_link()
    store.create_link(link)
    for _ in range(5):
        store.claim_link(link.id, 1, 10**12, NOW)
    assert (store.get_link(link.id).files, store.get_link(link.id).bytes) == (5, 5 * 10**12)


def test_release_never_goes_below_zero(store: UploadLinkStore) -> None:
    link = make_link(max_files=1)
    store.create_link(link)
    store.claim_link(link.id, 1, 10, NOW)
    store.release_link(link.id, 5, 50)
    current = store.get_link(link.id)
    assert (current.files, current.bytes) == (0, 0)
    store.release_link("nope", 1, 1)  # a link deleted meanwhile: nothing happens


def test_expired_and_revoked_links_refuse(store: UploadLinkStore) -> None:
    link = make_link(expires_at=NOW + 60, max_files=0)
    store.create_link(link)
    with pytest.raises(LinkRefused) as refused:
        store.claim_link(link.id, 1, 0, NOW + 60)
    assert refused.value.reason == "expired"  # expiry is named before the count
    revoked = store.revoke_link(link.id, NOW + 1)
    assert revoked is not None and revoked.revoked_at == NOW + 1
    assert store.revoke_link(link.id, NOW + 2).revoked_at == NOW + 1  # the first time stays
    with pytest.raises(LinkRefused) as refused:
        store.claim_link(link.id, 1, 0, NOW)
    assert refused.value.reason == "revoked"
    assert store.get_link(link.id).files == 0


def claim_many(spec: StoreSpec, owner: str, link_id: str, tries: int, start) -> int:
    store = spec.open()
    store.check()
    start.wait(timeout=60)
    won = 0
    for _ in range(tries):
        try:
            store.claim_link(link_id, 1, 7, time.time())
            won += 1
        except LinkRefused:
            pass
    return won


def test_concurrent_claims_let_in_exactly_the_limit(store_spec: StoreSpec, store) -> None:
    link = make_link(max_files=25, expires_at=time.time() + 600)
    store.create_link(link)
    won = in_processes(claim_many, store_spec, ["a", "b", "c", "d"], link.id, 20)
    assert sum(won.values()) == 25
    assert (store.get_link(link.id).files, store.get_link(link.id).bytes) == (25, 25 * 7)
