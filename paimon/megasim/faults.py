"""Faults and network shaping that tests switch on to hurt the emulator on purpose."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

from paimon.storage.mega.codes import ESID

#: Where a fault strikes: ``/cs`` requests, upload chunk POSTs, or download GETs.
FAULT_TARGETS = ("api", "upload", "download")
HTTP_FAULTS = ("http500", "drop")

FaultError = int | str


@dataclass
class Fault:
    target: str
    error: FaultError
    remaining: int


def validate_fault(target: object, error: object, count: object) -> tuple[str, FaultError, int]:
    """Check a ``/_sim/faults`` request; raise ValueError with a reason a person can read."""
    if not isinstance(target, str) or target not in FAULT_TARGETS:
        raise ValueError(f"target must be one of {', '.join(FAULT_TARGETS)}")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError("count must be a positive integer")
    if isinstance(error, str) and error in HTTP_FAULTS:
        return target, error, count
    if not isinstance(error, int) or isinstance(error, bool) or error >= 0:
        raise ValueError('error must be a negative MEGA error code, "http500" or "drop"')
    if target == "download":
        raise ValueError('download faults are HTTP-level: "http500" or "drop"')
    return target, error, count


class FaultQueue:
    """Per-target queues of faults, consumed in the order they were added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Fault]] = {target: deque() for target in FAULT_TARGETS}

    def add(self, target: str, error: FaultError, count: int) -> None:
        with self._lock:
            self._queues[target].append(Fault(target, error, count))

    def take(self, target: str, *, has_session: bool = True) -> FaultError | None:
        """The fault the next request to ``target`` must suffer, if any.

        An expired-session fault (-15) waits for a request that carries a session: MEGA
        cannot call a session-less request (a login) expired.
        """
        with self._lock:
            queue = self._queues[target]
            if not queue:
                return None
            fault = queue[0]
            if fault.error == ESID and not has_session:
                return None
            fault.remaining -= 1
            if fault.remaining == 0:
                queue.popleft()
            return fault.error

    def clear(self) -> None:
        with self._lock:
            for queue in self._queues.values():
                queue.clear()

    def pending(self) -> list[dict[str, object]]:
        with self._lock:
            return [
                {"target": fault.target, "error": fault.error, "count": fault.remaining}
                for queue in self._queues.values()
                for fault in queue
            ]


class Throttle:
    """A byte budget shared by whoever consumes it: all upload bodies together (the
    server's), or one TCP connection's (each connection has its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bytes_per_second = 0
        self._next_free = 0.0  # monotonic time at which the link is idle again

    @property
    def bytes_per_second(self) -> int:
        return self._bytes_per_second

    def set(self, bytes_per_second: int) -> None:
        """Limit to ``bytes_per_second``; 0 lifts the limit."""
        with self._lock:
            self._bytes_per_second = bytes_per_second
            self._next_free = time.monotonic()

    def piece_size(self, default: int) -> int:
        """Read smaller pieces when throttled, so the rate is smooth rather than bursty."""
        rate = self._bytes_per_second
        return default if rate == 0 else max(1024, min(default, rate // 10))

    def consume(self, byte_count: int) -> None:
        """Block until ``byte_count`` bytes fit in the budget."""
        with self._lock:
            rate = self._bytes_per_second
            if rate == 0:
                return
            now = time.monotonic()
            self._next_free = max(now, self._next_free) + byte_count / rate
            delay = self._next_free - now
        if delay > 0:
            time.sleep(delay)


@dataclass(frozen=True)
class NetworkShape:
    """A long path to MEGA: ``latency_ms`` before each answer, and upload bodies capped
    per connection and in all (0 lifts a limit)."""

    latency_ms: int = 0
    connection_bytes_per_second: int = 0
    bytes_per_second: int = 0


class TransferCounters:
    """Upload POSTs being handled at once, from headers to answer (and the peak since
    reset), how many TCP connections carried them, and the upload body bytes received
    (a range sent twice counts twice): what tests of several connections per upload,
    and of resumed uploads, look at."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._receiving = 0
        self._peak = 0
        self._connections: set[int] = set()
        self._bytes = 0

    def started(self, connection: int) -> None:
        with self._lock:
            self._receiving += 1
            self._peak = max(self._peak, self._receiving)
            self._connections.add(connection)

    def finished(self) -> None:
        with self._lock:
            self._receiving -= 1

    def received(self, count: int) -> None:
        with self._lock:
            self._bytes += count

    def reset(self) -> None:
        with self._lock:
            self._peak = self._receiving
            self._connections.clear()
            self._bytes = 0

    def view(self) -> dict[str, int]:
        with self._lock:
            return {
                "receiving": self._receiving,
                "receiving_peak": self._peak,
                "connections": len(self._connections),
                "bytes_received": self._bytes,
            }


class AnswerPauses:
    """Answers held back after the command was carried out (``/_sim/pause``): what a
    client sees when it dies, or its answer is lost, right after MEGA acted on it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: deque[tuple[str, float]] = deque()  # (API command, seconds)
        self.holding = 0  # answers being held now

    def add(self, action: str, seconds: float) -> None:
        with self._lock:
            self._pending.append((action, seconds))

    def take(self, actions: list[object]) -> float | None:
        """Seconds to hold the answer to a request of ``actions``, if one is queued."""
        with self._lock:
            if self._pending and self._pending[0][0] in actions:
                return self._pending.popleft()[1]
        return None

    def hold(self, seconds: float) -> None:
        with self._lock:
            self.holding += 1
        try:
            time.sleep(seconds)
        finally:
            with self._lock:
                self.holding -= 1

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def view(self) -> dict[str, object]:
        with self._lock:
            queued = [{"action": action, "seconds": seconds} for action, seconds in self._pending]
            return {"queued": queued, "holding": self.holding}
