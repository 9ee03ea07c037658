"""The sender: every worker process runs one, and any of them may send any delivery.

A pass claims the due deliveries of each endpoint under a lease (paimon/jobs/outbox.py:
of many senders one gets each; a sender that died is taken over when its process is
seen dead, by LeaseOwners.release_dead_leases, else when the lease runs out), at most
PER_ENDPOINT_IN_FLIGHT at once per endpoint in this process, and sends each on a
thread of its own pool, so a slow or dead endpoint holds these threads only, never a
request's or a transfer's. An attempt is one POST to the address the name resolves to
now, checked (targets.py), with short timeouts, the whole of it bounded (a receiver
that drips its answer byte by byte is cut off at ATTEMPT_SECONDS, well inside the
lease), and no redirect followed; its outcome is settled in the store: sent, to be
tried again (timeouts, connection errors, 5xx, 408, 409, 429, after a pause that
doubles from about a second to at most 10 minutes, or Retry-After), or failed (any
other answer, or PAIMON_WEBHOOK_RETRY_HOURS are over). The sender wakes when this
process writes an event, and looks every POLL_SECONDS for the others' events.
Its log speaks of endpoints, not of each attempt (EndpointLog).
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import logging
import os
import socket
import ssl
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from paimon.jobs.outbox import Announcer, Delivery, DeliveryNotFound, DeliveryState
from paimon.jobs.owners import LeaseOwners
from paimon.jobs.store import JobStore, LeaseLost
from paimon.observability import metrics
from paimon.webhooks import signing, targets
from paimon.webhooks.events import LinkOf, body

log = logging.getLogger("paimon.webhooks")

PER_ENDPOINT_IN_FLIGHT = 4  # deliveries one worker process sends at once to one endpoint
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 10.0  # for each read: the whole attempt is bounded below
ATTEMPT_SECONDS = 20.0  # connecting, sending and reading the answer, all told
LEASE_SECONDS = 60.0  # longer than an attempt can last (ATTEMPT_SECONDS + the settle)
POLL_SECONDS = 0.25  # how often a sender looks for events other processes wrote
HOUSEKEEPING_SECONDS = 5.0  # overdue deliveries given up
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 600.0
RETRY_JITTER_SECONDS = 1.0
RETRYABLE_4XX = frozenset({408, 409, 429})
RESPONSE_BYTES_READ = 4096  # of a receiver's answer: only its status matters
USER_AGENT = "Paimon-Webhooks/1"
FAILING_SUMMARY_SECONDS = 300.0  # while an endpoint keeps failing: one line this often


def retry_delay(attempts: int) -> float:
    """Seconds from the ``attempts``-th failed attempt to the next: about 1, 2, 4...
    up to 10 minutes, with jitter (tenacity's wait, as the transfers' retries)."""
    from tenacity import RetryCallState, Retrying, wait_exponential_jitter

    wait = wait_exponential_jitter(
        initial=FIRST_RETRY_SECONDS, max=MAX_RETRY_SECONDS, jitter=RETRY_JITTER_SECONDS
    )
    state = RetryCallState(Retrying(), None, (), {})
    state.attempt_number = max(attempts, 1)
    return wait(state)


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now, 0.0)


@dataclass
class _Failing:
    since: float  # monotonic: the first failed attempt of this run of failures
    failed: int = 0  # attempts failed since then
    told: float = 0.0  # monotonic: when the log last said so


class EndpointLog:
    """What the log says of failed attempts, per endpoint (one process's sender): a
    WARNING when it starts failing, one line every FAILING_SUMMARY_SECONDS while it
    goes on (how many attempts failed, the last error), and one when it answers again;
    never a line per attempt, which a dead endpoint with a backlog of 10,000 would make
    tens of thousands of a minute. It names an endpoint by its host only (_host)."""

    def __init__(self, summary_seconds: float = FAILING_SUMMARY_SECONDS):
        self.summary_seconds = summary_seconds
        self._failing: dict[str, _Failing] = {}
        self._lock = threading.Lock()

    def failed(self, endpoint: str, error: str | None, now: float) -> None:
        where = _host(endpoint)
        with self._lock:
            failing = self._failing.get(endpoint)
            if failing is None:
                self._failing[endpoint] = _Failing(since=now, failed=1, told=now)
                log.warning(
                    "webhook endpoint %s is failing: %s; its deliveries are tried again "
                    "with growing pauses",
                    where,
                    error,
                )
                return
            failing.failed += 1
            if now - failing.told < self.summary_seconds:
                return
            failing.told = now
            log.warning(
                "webhook endpoint %s still failing: %d attempts failed in %.0f s; last: %s",
                where,
                failing.failed,
                now - failing.since,
                error,
            )

    def sent(self, endpoint: str, now: float) -> None:
        with self._lock:
            failing = self._failing.pop(endpoint, None)
        if failing is not None:
            log.info(
                "webhook endpoint %s answers again, after %d failed attempts in %.0f s",
                _host(endpoint),
                failing.failed,
                now - failing.since,
            )


@dataclass(frozen=True)
class Outcome:
    """One attempt: the endpoint's status (None: no answer) and what to say of it."""

    status: int | None
    error: str | None = None
    retry_after: float | None = None
    refused: bool = False  # the target is not allowed: never tried again

    @property
    def sent(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        if self.refused:
            return False
        return self.status is None or self.status >= 500 or self.status in RETRYABLE_4XX


def post(
    url: str,
    headers: dict[str, str],
    payload: bytes,
    allow_private: bool,
    deadline_seconds: float = ATTEMPT_SECONDS,
) -> Outcome:
    """POST once to the address the URL's host resolves to now, checked; no redirect
    is followed (a 3xx is the endpoint's answer). Each read has its own timeout, and
    the whole attempt ``deadline_seconds``: past it, the connection is shut down under
    the reads (a receiver feeding its answer a byte at a time never reaches a timeout),
    so an attempt ends long before its lease, and no other sender sends it meanwhile."""
    started = time.monotonic()
    try:
        target = targets.parse(url, allow_private)
        address = targets.resolve(target, allow_private)
    except targets.TargetRefused as exc:
        return Outcome(None, str(exc), refused=True)
    except OSError as exc:
        return Outcome(None, f"{target.host} does not resolve: {exc.strerror or exc}")
    connection = http.client.HTTPConnection(target.host, target.port)  # the Host header
    deadline = _Deadline(deadline_seconds - (time.monotonic() - started))
    try:
        sock = socket.create_connection((address, target.port), CONNECT_TIMEOUT_SECONDS)
        sock.settimeout(READ_TIMEOUT_SECONDS)
        deadline.watch(sock)
        if target.scheme == "https":
            context = ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=target.host)
        connection.sock = sock
        connection.request("POST", target.path, payload, headers)
        response = connection.getresponse()
        response.read(RESPONSE_BYTES_READ)
        wait = retry_after(response.getheader("Retry-After"), time.time())
        return Outcome(response.status, f"HTTP {response.status} {response.reason}", wait)
    except (OSError, http.client.HTTPException) as exc:
        if deadline.passed:
            return Outcome(None, f"no whole answer within {deadline_seconds:g} s")
        if isinstance(exc, TimeoutError):
            return Outcome(None, "timed out")
        return Outcome(None, f"{type(exc).__name__}: {exc}")
    finally:
        deadline.done()
        connection.close()


class _Deadline:
    """Past ``seconds``, shut the watched connection down under its reads (a socket
    timeout bounds one read only). The TLS layer, when there is one, sits on the same
    descriptor, so the descriptor is what is kept; ``done`` before it is closed, so a
    late timer never touches a descriptor reused meanwhile."""

    def __init__(self, seconds: float):
        self.seconds = max(seconds, 0.0)
        self.passed = False
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def watch(self, sock: socket.socket) -> None:
        self._fd = sock.fileno()
        self._timer = threading.Timer(self.seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def _cut(self) -> None:
        with self._lock:
            if self._fd is None:
                return
            self.passed = True
            with contextlib.suppress(OSError), socket.socket(fileno=os.dup(self._fd)) as alias:
                alias.shutdown(socket.SHUT_RDWR)

    def done(self) -> None:
        with self._lock:
            self._fd = None
        if self._timer is not None:
            self._timer.cancel()


class WebhookSender:
    """This worker's sender (see the module's docstring)."""

    def __init__(
        self,
        store: JobStore,
        announcer: Announcer,
        secret: str,
        owners: LeaseOwners,
        link_of: LinkOf,
        *,
        allow_private: bool,
        retention_seconds: float,
    ):
        self.store = store
        self.announcer = announcer
        self.endpoints = announcer.endpoints
        self._key = signing.secret_bytes(secret)  # never logged, never shown
        self.owners = owners
        self.owner = owners.name("webhooks-")
        self.link_of = link_of
        self.allow_private = allow_private
        self.retention_seconds = retention_seconds
        self._in_flight: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.endpoint_log = EndpointLog()
        self._pool = ThreadPoolExecutor(
            max(PER_ENDPOINT_IN_FLIGHT * len(self.endpoints), 1), thread_name_prefix="webhook"
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"WebhookSender({len(self.endpoints)} endpoint(s))"

    def start(self) -> None:
        if self._thread is None and self.endpoints:
            self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)
            self._thread.start()

    def stop(self, wait_seconds: float = 5.0) -> None:
        """Take no more deliveries; those in flight finish (or their lease runs out)."""
        self._stopping.set()
        self.announcer.written.set()
        if self._thread is not None:
            self._thread.join(wait_seconds)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        next_housekeeping = next_purge = 0.0
        while not self._stopping.is_set():
            self.announcer.written.clear()
            try:
                if time.monotonic() >= next_housekeeping:
                    self.housekeeping(time.time())
                    next_housekeeping = time.monotonic() + HOUSEKEEPING_SECONDS
                if time.monotonic() >= next_purge:
                    self.store.purge_deliveries(time.time() - self.retention_seconds)
                    next_purge = time.monotonic() + min(self.retention_seconds / 4, 600)
                self.send_due()
            except Exception:  # the store may be briefly unreachable; keep going
                log.exception("webhook sender pass failed; retrying")
            self.announcer.written.wait(POLL_SECONDS)

    def housekeeping(self, now: float) -> None:
        """Fail the deliveries whose time is up. (The leases of senders whose process
        died are given back by the transfers' maintenance, with the jobs' leases:
        LeaseOwners.release_dead_leases.)"""
        self.store.give_up_deliveries(now, "retries are over (PAIMON_WEBHOOK_RETRY_HOURS)")

    def send_due(self) -> int:
        """Claim what is due for each endpoint, as far as this process may send more;
        how many attempts were started."""
        started = 0
        for endpoint in self.endpoints:
            with self._lock:
                room = PER_ENDPOINT_IN_FLIGHT - self._in_flight[endpoint]
            if room <= 0:
                continue
            claimed = self.store.claim_deliveries(
                endpoint, self.owner, time.time(), LEASE_SECONDS, room
            )
            for delivery in claimed:
                with self._lock:
                    self._in_flight[endpoint] += 1
                self._pool.submit(self._attempt, delivery)
                started += 1
        return started

    def _attempt(self, delivery: Delivery) -> None:
        try:
            payload = body(delivery, self.link_of)
            headers = {
                **signing.headers(self._key, delivery.id, int(time.time()), payload),
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
            }
            outcome = post(delivery.endpoint, headers, payload, self.allow_private)
            self._settle(delivery, outcome)
        except Exception:
            log.exception("webhook delivery %s failed unexpectedly", delivery.id)
            self.store.release_delivery_lease(delivery.id, self.owner)
        finally:
            with self._lock:
                self._in_flight[delivery.endpoint] -= 1
            self.announcer.written.set()  # room again: look at once

    def _settle(self, delivery: Delivery, outcome: Outcome) -> None:
        now = time.time()
        attempts = delivery.attempts + 1
        changes: dict[str, object] = {
            "attempts": attempts,
            "last_attempt_at": now,
            "last_status": outcome.status,
            "last_error": None if outcome.sent else outcome.error,
        }
        if outcome.sent:
            changes |= {"state": DeliveryState.SENT, "sent_at": now, "next_attempt_at": None}
        else:
            pause = max(retry_delay(attempts), outcome.retry_after or 0.0)
            if outcome.retryable and now + pause <= delivery.give_up_at:
                changes["next_attempt_at"] = now + pause
            else:
                changes |= {"state": DeliveryState.FAILED, "next_attempt_at": None}
        try:
            self.store.settle_delivery(delivery.id, self.owner, **changes)
        except (LeaseLost, DeliveryNotFound):
            return  # taken over (this attempt ran past its lease), or purged
        if outcome.sent:
            metrics.WEBHOOKS.labels("sent").inc()
            self.endpoint_log.sent(delivery.endpoint, time.monotonic())
            return
        if outcome.retryable:  # the endpoint's trouble (no answer, 5xx...), not this event's
            self.endpoint_log.failed(delivery.endpoint, outcome.error, time.monotonic())
        if changes.get("state") is DeliveryState.FAILED:
            metrics.WEBHOOKS.labels("failed").inc()
            where = _host(delivery.endpoint)
            log.warning("webhook %s to %s failed for good: %s", delivery.id, where, outcome.error)


def _host(url: str) -> str:
    """What the logs name of an endpoint: its host (a path or query may hold a token)."""
    try:
        return targets.parse(url, allow_private=True).host
    except targets.TargetRefused:
        return "?"
