"""The owner's use cases on webhook deliveries, free of HTTP: what the deliveries are
(counts and the newest), and "send again". The store they get is the one request
handlers use (the root hands in the refusing store), so a job store that is down is
a 503 ``store_unavailable`` for the owner, never a 500."""

from __future__ import annotations

import time

from paimon.jobs.outbox import Announcer, Delivery, DeliveryState, DeliveryStore

PAGE = 50  # deliveries listed at once, newest first


class Deliveries:
    def __init__(self, store: DeliveryStore, announcer: Announcer):
        self.store = store
        self.announcer = announcer

    def counts(self) -> dict[DeliveryState, int]:
        return self.store.delivery_counts()

    def newest(self, state: DeliveryState | None = None) -> list[Delivery]:
        return self.store.list_deliveries(state=state, limit=PAGE)

    def resend(self, delivery_id: str) -> Delivery:
        """Pending again, due now, tried for PAIMON_WEBHOOK_RETRY_HOURS, with the same
        id and body; this process's sender is woken. DeliveryNotFound, or StateConflict
        while an attempt is in flight."""
        now = time.time()
        delivery = self.store.resend_delivery(delivery_id, now, now + self.announcer.retry_seconds)
        self.announcer.written.set()
        return delivery
