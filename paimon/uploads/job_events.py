"""Job transitions: one log line each, and the metrics a transition implies.

Called wherever a job changes state (uploads/intake.py, uploads/transfers.py), so
the log and the counters cannot disagree about what happened to an upload.
"""

from __future__ import annotations

import logging

from paimon.jobs.model import Job, JobState
from paimon.observability import metrics

log = logging.getLogger("paimon.jobs")

#: Not a stored state: the body never completed, so the job was deleted.
ABANDONED = "abandoned"


def record_transition(
    job: Job,
    from_state: JobState | None,
    to_state: str | None = None,
    *,
    seconds: float | None = None,
) -> None:
    """Log ``job`` moving from ``from_state`` (None: just created) to ``to_state``
    (default: its state now) and count it. ``seconds``: how long the transfer attempt
    that ended here took. The filename is never logged: it is the user's."""
    to_state = to_state or job.state
    entry: dict[str, object] = {
        "job_id": job.id,
        "from_state": from_state,
        "to_state": to_state,
        "backend": job.backend,
        "size": job.size,
        "attempts": job.attempts,
    }
    if seconds is not None:
        entry["duration_ms"] = round(seconds * 1000, 1)
        metrics.TRANSFER_SECONDS.labels(job.backend, to_state).observe(seconds)
    level = logging.INFO
    if to_state == JobState.FAILED:
        level = logging.WARNING
        entry |= {"error_code": job.error_code, "error": job.error, "retryable": job.retryable}
    log.log(level, "job %s", to_state, extra=entry)

    if to_state in (JobState.DONE, JobState.FAILED, ABANDONED):
        metrics.UPLOADS.labels(to_state, job.backend).inc()
    if to_state == JobState.DONE:
        metrics.STORED_BYTES.labels(job.backend).inc(job.bytes_stored)


def record_received(size: int) -> None:
    """A body is whole in the spool (once per upload; a pipelined one may be stored by
    then, so this is not tied to a state change)."""
    metrics.RECEIVED_BYTES.inc(size)


def record_refusal(backend: str) -> None:
    """An upload declined before its body was read (no job exists yet)."""
    metrics.UPLOADS.labels("refused", backend).inc()
