"""Webhooks for the tests: the secret they configure, the receiver's records checked
with the Standard Webhooks library from PyPI (the receiver itself is
paimon_devtools/receiver.py, shared with scripts/bench), a server's settings that
send to a receiver, and a sender run in the test's own process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from paimon.jobs.outbox import Announcer
from paimon.jobs.owners import LeaseOwners
from paimon.jobs.store import JobStore
from paimon.webhooks.sender import WebhookSender
from paimon_devtools.receiver import Received, Receiver
from paimon_devtools.servers import eventually
from tests.support.known_secrets import WEBHOOK_SECRET

__all__ = ["WEBHOOK_SECRET", "hooked", "one", "receiver", "sender_for", "verified"]


def verified(received: Received, secret: str = WEBHOOK_SECRET) -> dict:
    """The event, once the Standard Webhooks library accepts its signature."""
    return Webhook(secret).verify(received.body, received.headers)


def hooked(receiver: Receiver) -> dict[str, str]:
    """A server's settings that send every event to ``receiver`` (on 127.0.0.1)."""
    return {
        "webhook_urls": receiver.url,
        "webhook_secret": WEBHOOK_SECRET,
        "webhook_allow_private": "true",
    }


def one(receiver: Receiver, event_type: str, timeout: float = 15) -> dict:
    """The one event of that type the receiver got, verified."""
    assert eventually(lambda: receiver.of_type(event_type), timeout=timeout), receiver.received
    (received,) = receiver.of_type(event_type)
    return verified(received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def sender_for(
    store: JobStore, announcer: Announcer, workdir: Path, *, allow_private: bool
) -> WebhookSender:
    """A sender in the test's own process, as a worker runs one (not started), with the
    tests' secret, lease owners under ``workdir`` and no links in its bodies."""
    return WebhookSender(
        store,
        announcer,
        WEBHOOK_SECRET,
        LeaseOwners(workdir / "owners"),
        lambda job: None,
        allow_private=allow_private,
        retention_seconds=3600,
    )
