"""Which webhook targets are refused (paimon/webhooks/targets.py): at start, by the
settings, and again at delivery, on the address the name resolves to then."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from paimon.config import SettingsError, load_settings
from paimon.jobs.model import JobState
from paimon.jobs.outbox import Announcer, DeliveryState
from paimon.jobs.sqlite import SqliteJobStore
from paimon_devtools.receiver import Receiver
from paimon_devtools.servers import eventually
from tests.support.jobstores import make_job
from tests.support.webhooks import WEBHOOK_SECRET, sender_for


@pytest.mark.parametrize(
    ("urls", "allow"),
    [
        ("https://127.0.0.1/hook", "false"),
        ("https://[::1]:8443/hook", "false"),
        ("https://10.1.2.3/hook", "false"),
        ("https://169.254.169.254/latest/meta-data", "false"),
        ("https://localhost/hook", "false"),
        ("http://hooks.example.com/hook", "false"),
        ("ftp://127.0.0.1/hook", "true"),
    ],
)
def test_private_or_plain_targets_are_refused_at_start(urls: str, allow: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(webhook_urls=urls, webhook_secret=WEBHOOK_SECRET, webhook_allow_private=allow)
    assert "PAIMON_WEBHOOK" in str(refused.value)
    assert WEBHOOK_SECRET not in str(refused.value)


def test_a_bad_secret_is_refused_at_start_without_repeating_it() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(webhook_urls="https://hooks.example.com/x", webhook_secret="whsec_short")
    assert "whsec_" in str(refused.value) and "whsec_short" not in str(refused.value)


def test_a_name_resolving_to_a_private_address_at_delivery_is_refused_then(
    tmp_path: Path, receiver: Receiver
) -> None:
    """A name that did not resolve at start is let through then (check_at_start); when
    it resolves to this machine at delivery, the attempt is refused before any
    connection: the receiver listening there hears nothing, and the delivery fails for
    good (no retry can make the address public) with the reason in its last error.
    ``localhost`` is such a name once it resolves: the sender is built with it directly,
    as the settings would have let it through before it did."""
    port = receiver.url.split(":")[2].split("/")[0]
    endpoint = f"https://localhost:{port}/hook"
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    announcer = Announcer((endpoint,), 3600)
    sender = sender_for(store, announcer, tmp_path, allow_private=False)
    try:
        job = make_job(state=JobState.TRANSFERRING, size=3, sha256="ab" * 32)
        store.create(job)
        store.update(job.id, announce=announcer("upload.stored"), state=JobState.DONE)
        sender.start()
        assert eventually(lambda: store.delivery_counts()[DeliveryState.FAILED] == 1, timeout=10)
        (failed,) = store.list_deliveries(state=DeliveryState.FAILED)
        assert failed.attempts == 1 and failed.last_status is None
        assert "resolves to 127.0.0.1" in (failed.last_error or "")
        assert "PAIMON_WEBHOOK_ALLOW_PRIVATE" in (failed.last_error or "")
        time.sleep(1)
        assert receiver.received == []
    finally:
        sender.stop()
        store.close()
