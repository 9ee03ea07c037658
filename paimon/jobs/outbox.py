"""The outbox: webhook deliveries, kept in the job store beside the jobs.

An event (an upload stored, failed, deleted or expired) is written in the same write
that changes its job (``JobStore.update`` or ``delete`` with an ``Announcement``), as one
delivery per endpoint, so no event is lost between the change and its delivery, and
none is announced for a change that did not happen. The delivery keeps the job's fields
as that write left them (``job``): its body is the same on every attempt, also after
the job changed again or was deleted. A sender (paimon/webhooks/sender.py) takes due
deliveries under a lease, as workers take jobs, so any worker of any instance may send
one but never two at once, and records each attempt's outcome.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class DeliveryState(StrEnum):
    PENDING = "pending"  # to be sent (again), at ``next_attempt_at``
    SENT = "sent"  # the endpoint answered 2xx
    FAILED = "failed"  # given up: a refusal that retrying cannot change, or time is up


class DeliveryNotFound(KeyError):
    """No delivery with that id."""


#: The job's fields a delivery keeps: what event bodies are made of (and the few they
#: are decided by), never the internal ones (spool path, lease, delete digest).
SNAPSHOT_FIELDS = (
    "id",
    "filename",
    "backend",
    "state",
    "size",
    "sha256",
    "attempts",
    "link",
    "storage_key",
    "error",
    "error_code",
    "retryable",
    "expires_at",
    "max_downloads",
    "downloads",
    "removed_at",
    "removed_because",
    "created_at",
    "updated_at",
    "uploader_label",
    "upload_link",
)


def new_delivery_id() -> str:
    """``msg_`` and 144 random bits: the ``webhook-id`` receivers deduplicate by."""
    return f"msg_{secrets.token_urlsafe(18)}"


def snapshot(stored: Mapping[str, object]) -> str:
    """The job's stored fields a delivery keeps, as JSON (read by job_from_stored)."""
    return json.dumps({name: stored.get(name) for name in SNAPSHOT_FIELDS})


@dataclass(frozen=True)
class Announcement:
    """An event to write with a job's change: one delivery (its own id) per endpoint,
    none tried after ``give_up_at``. ``detail`` is what the event adds to the job's own
    fields (who deleted it)."""

    event: str
    endpoints: tuple[str, ...]
    give_up_at: float
    detail: str | None = None
    ids: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.ids:
            object.__setattr__(self, "ids", tuple(new_delivery_id() for _ in self.endpoints))

    def deliveries(self, job_id: str, job: str, occurred_at: float) -> list[Delivery]:
        """The deliveries to write, due at once."""
        return [
            Delivery(
                id=delivery_id,
                endpoint=endpoint,
                event=self.event,
                job_id=job_id,
                job=job,
                detail=self.detail,
                occurred_at=occurred_at,
                give_up_at=self.give_up_at,
                next_attempt_at=occurred_at,
            )
            for delivery_id, endpoint in zip(self.ids, self.endpoints, strict=True)
        ]


#: The events, as receivers see them in ``type``.
STORED = "upload.stored"
FAILED = "upload.failed"
DELETED = "upload.deleted"
EXPIRED = "upload.expired"


class Announcer:
    """Makes the Announcement each event's write carries (none without endpoints), and
    wakes this process's sender (``written``) so delivery starts at once; the senders
    of other processes find it by polling."""

    def __init__(self, endpoints: tuple[str, ...] = (), retry_seconds: float = 86400.0):
        self.endpoints = endpoints
        self.retry_seconds = retry_seconds
        self.written = threading.Event()

    def __call__(self, event: str, detail: str | None = None) -> Announcement | None:
        if not self.endpoints:
            return None
        self.written.set()  # the sender looks again until it finds the write
        return Announcement(
            event=event,
            endpoints=self.endpoints,
            give_up_at=time.time() + self.retry_seconds,
            detail=detail,
        )


#: No webhooks: what the use cases hold when nothing is configured (and in tests).
SILENT = Announcer()


@dataclass
class Delivery:
    id: str  # the webhook-id: the same on every attempt
    endpoint: str  # the URL it is sent to
    event: str  # upload.stored, upload.failed, upload.deleted, upload.expired
    job_id: str
    job: str  # the job's fields as the announcing write left them (SNAPSHOT_FIELDS), JSON
    occurred_at: float  # when that write happened (wall-clock seconds)
    give_up_at: float  # no attempt starts after this (PAIMON_WEBHOOK_RETRY_HOURS)
    detail: str | None = None  # what the event adds: who deleted the upload
    state: DeliveryState = DeliveryState.PENDING
    attempts: int = 0
    next_attempt_at: float | None = None  # pending: when it is due; else None
    last_attempt_at: float | None = None
    last_status: int | None = None  # the endpoint's HTTP status last time; None: no answer
    last_error: str | None = None  # why the last attempt failed, for a person
    sent_at: float | None = None  # when the endpoint answered 2xx
    lease_owner: str | None = None  # internal: the sender trying it now
    lease_expires: float = 0.0  # internal: wall-clock seconds

    PRIVATE = ("job", "lease_owner", "lease_expires")

    def public_view(self) -> dict[str, object]:
        """The delivery as the owner's API shows it: no snapshot, no sender identity."""
        view = {k: v for k, v in self.__dict__.items() if k not in self.PRIVATE}
        view["state"] = str(self.state)
        return view


class DeliveryStore(Protocol):
    """What the job stores keep of the outbox (both SQLite and Redis; their contract
    tests are tests/jobs/test_outbox_contract.py)."""

    def get_delivery(self, delivery_id: str) -> Delivery | None: ...

    def list_deliveries(
        self,
        *,
        state: DeliveryState | None = None,
        before: tuple[float, str] | None = None,
        limit: int = 50,
    ) -> list[Delivery]:
        """Newest first (by ``occurred_at``, then id), those of ``state`` only when
        given, starting after the ``(occurred_at, id)`` cursor ``before``."""
        ...

    def claim_deliveries(
        self, endpoint: str, owner: str, now: float, ttl: float, limit: int
    ) -> list[Delivery]:
        """Take a lease of ``ttl`` seconds on up to ``limit`` pending deliveries to
        ``endpoint`` that are due at ``now`` and not leased (or whose lease expired),
        oldest due first. Atomic per delivery: of many senders, one gets each."""
        ...

    def settle_delivery(self, delivery_id: str, owner: str, **changes: object) -> Delivery:
        """Record an attempt's outcome (``changes``) and give the lease up, if ``owner``
        still holds it; else LeaseLost (it ran out and another sender took it) and
        nothing changes. DeliveryNotFound when it is gone."""
        ...

    def resend_delivery(self, delivery_id: str, now: float, give_up_at: float) -> Delivery:
        """Make a delivery pending again, due at ``now`` and tried until ``give_up_at``
        (the owner's "send again"): StateConflict while an attempt is in flight."""
        ...

    def delivery_counts(self) -> dict[DeliveryState, int]:
        """How many deliveries are in each state (every state present)."""
        ...

    def give_up_deliveries(self, now: float, reason: str) -> int:
        """Fail the pending deliveries not leased whose ``give_up_at`` has passed (an
        endpoint no longer configured, or one a sender paused on until then), with
        ``reason`` as their last error; how many."""
        ...

    def purge_deliveries(self, cutoff: float) -> int:
        """Forget sent and failed deliveries whose event is older than ``cutoff``."""
        ...

    def delivery_leases(self) -> dict[str, str]:
        """Pending deliveries whose lease someone holds (expired or not): id -> owner."""
        ...

    def release_delivery_lease(self, delivery_id: str, owner: str) -> None:
        """Give up a lease ``owner`` holds (its process died), so it is due again."""
        ...
