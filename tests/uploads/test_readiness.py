"""/readyz's storage check counts the backend as degraded while jobs wait for their
automatic retry (paimon/uploads/readiness.py), read from a real job store."""

from __future__ import annotations

import time

from paimon.jobs.model import JobState
from paimon.jobs.store import JobStore
from paimon.uploads.readiness import check_retries
from tests.support.jobstores import make_job


def test_storage_is_degraded_while_retries_wait(store: JobStore) -> None:
    assert check_retries("mega", store).ok
    waiting = make_job(state=JobState.FAILED, retryable=True, next_retry_at=time.time() + 5)
    store.create(waiting)
    store.create(make_job(state=JobState.FAILED, retryable=False))
    result = check_retries("mega", store)
    assert (result.name, result.ok) == ("storage", False)
    assert result.detail.startswith("mega is degraded: 1 upload(s)")
    store.update(waiting.id, state=JobState.DONE, next_retry_at=None)
    assert check_retries("mega", store).ok
