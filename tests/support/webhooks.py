"""Webhooks for the tests: the secret they configure, the receiver's records checked
with the Standard Webhooks library from PyPI (the receiver itself is
paimon_devtools/receiver.py, shared with scripts/bench), and a server's settings that
send to a receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from standardwebhooks.webhooks import Webhook

from paimon_devtools.receiver import Received, Receiver
from paimon_devtools.servers import eventually
from tests.support.known_secrets import WEBHOOK_SECRET

__all__ = ["WEBHOOK_SECRET", "hooked", "one", "receiver", "verified"]


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
