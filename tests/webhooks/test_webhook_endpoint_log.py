"""What the sender logs of an endpoint that fails (paimon/webhooks/sender.py,
EndpointLog): a line when it starts failing, a summary now and then, a line when it
answers again; never one per attempt of each delivery. A real sender over a SQLite
store posts to a real receiver on 127.0.0.1 that answers 503 for a while."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from paimon.jobs.model import JobState
from paimon.jobs.outbox import Announcer, DeliveryState
from paimon.jobs.sqlite import SqliteJobStore
from paimon.webhooks.sender import EndpointLog
from paimon_devtools.receiver import Receiver
from paimon_devtools.servers import eventually
from tests.support.jobstores import make_job
from tests.support.webhooks import sender_for

DELIVERIES = 8
AGAIN = re.compile(
    r"webhook endpoint 127\.0\.0\.1 answers again, after (\d+) failed attempts in \d+ s"
)
FAILURES = 12  # 503s before the first 200: each of the 8 deliveries fails once or twice


def endpoint_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "paimon.webhooks"]


def test_a_failing_endpoint_is_one_line_and_one_when_it_answers_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = Receiver(statuses=[503] * FAILURES)
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    announcer = Announcer((receiver.url,), 3600)
    sender = sender_for(store, announcer, tmp_path, allow_private=True)
    caplog.set_level(logging.INFO, logger="paimon.webhooks")
    try:
        for _ in range(DELIVERIES):
            job = make_job(state=JobState.TRANSFERRING, size=3, sha256="ab" * 32)
            store.create(job)
            store.update(job.id, announce=announcer("upload.stored"), state=JobState.DONE)
        sender.start()
        sent = eventually(
            lambda: store.delivery_counts()[DeliveryState.SENT] == DELIVERIES, timeout=25
        )
        assert sent, store.delivery_counts()
        assert len(receiver.received) == FAILURES + DELIVERIES
    finally:
        sender.stop()
        store.close()
        receiver.close()
    # A line when it starts failing, one when it answers again, with the count. Attempts
    # run 4 at once, so a 503 may be settled after another attempt's 200: a second pair
    # of lines then, and every failed attempt is still counted once.
    lines = endpoint_lines(caplog)
    assert 2 <= len(lines) <= 8 and len(lines) % 2 == 0, lines
    assert all(line.startswith("webhook endpoint 127.0.0.1 is failing: ") for line in lines[::2])
    assert "503" in lines[0]
    again = [AGAIN.fullmatch(line) for line in lines[1::2]]
    assert all(again), lines
    assert sum(int(match[1]) for match in again) == FAILURES


def test_a_long_failure_is_summed_up_every_few_minutes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The clock is the caller's (monotonic seconds): three minutes of attempts every
    second, then ten more minutes, with a summary every five."""
    endpoint_log = EndpointLog(summary_seconds=300)
    caplog.set_level(logging.INFO, logger="paimon.webhooks")
    for second in range(780):
        endpoint_log.failed("https://hooks.example.com/t/SECRET-PATH", "HTTP 502", 1000 + second)
    endpoint_log.sent("https://hooks.example.com/t/SECRET-PATH", 1780)
    lines = endpoint_lines(caplog)
    assert len(lines) == 4, lines
    assert lines[1] == (
        "webhook endpoint hooks.example.com still failing: 301 attempts failed in 300 s; "
        "last: HTTP 502"
    )
    assert lines[2].startswith("webhook endpoint hooks.example.com still failing: 601 attempts")
    assert lines[3] == (
        "webhook endpoint hooks.example.com answers again, after 780 failed attempts in 780 s"
    )
    assert not any("SECRET-PATH" in line for line in lines)  # a path may hold a token
