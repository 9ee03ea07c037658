"""How many request bodies one worker receives at once, in all and per client.

Every body being received holds one of the worker's threads for as long as the client
takes to send it, minutes for a phone on a bad link. gunicorn.conf.py gives each
worker one thread per upload slot and a few more for everything else, so when every
slot is taken, health checks, status and downloads are still answered, and a further
upload is refused at once (503) instead of waiting for a thread. One client (a token,
or an address without a valid token) may hold only a few slots, so it cannot take them
all (429). Both are decided before the body is read.

The counts are per worker process: they live and die with it, so a killed worker
leaks nothing. With W workers an instance holds W x its share, and one client at most
W x ``per_client``.
"""

from __future__ import annotations

import threading
from collections import Counter

from paimon.observability.metrics import UPLOAD_SLOTS_IN_USE
from paimon.uploads.refusals import UploadRefused


class Slot:
    """One body being received; ``release`` when the request ends (idempotent)."""

    def __init__(self, slots: UploadSlots, client: str):
        self._slots, self._client = slots, client
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots._release(self._client)


class UploadSlots:
    """The bodies one worker is receiving, counted per client."""

    def __init__(self, capacity: int, per_client: int):
        self.capacity = capacity
        self.per_client = per_client  # 0: no limit per client
        self._lock = threading.Lock()
        self._by_client: Counter[str] = Counter()
        self._held = 0

    @property
    def held(self) -> int:
        return self._held

    def claim(self, client: str) -> Slot:
        """A slot for one more body from ``client``, or UploadRefused: ``too_many_uploads``
        when the client already holds its share, ``server_busy`` when all are taken."""
        with self._lock:
            if self.per_client and self._by_client[client] >= self.per_client:
                raise UploadRefused(
                    "too_many_uploads",
                    f"This client is already sending {self.per_client} uploads at once, "
                    "the most this server takes from one client; send the next one when "
                    "one of them has finished.",
                )
            if self._held >= self.capacity:
                raise UploadRefused(
                    "server_busy",
                    "This server is receiving as many uploads as it can hold at once; "
                    "try again after the number of seconds in Retry-After.",
                )
            self._by_client[client] += 1
            self._held += 1
        UPLOAD_SLOTS_IN_USE.inc()
        return Slot(self, client)

    def _release(self, client: str) -> None:
        with self._lock:
            self._held -= 1
            self._by_client[client] -= 1
            if not self._by_client[client]:
                del self._by_client[client]
        UPLOAD_SLOTS_IN_USE.dec()
