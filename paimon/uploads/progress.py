"""Bytes received so far, written to the job store by one thread per worker.

A body's progress (``bytes_received`` on /status/<id>) used to be written by the thread
receiving the body. With hundreds of slow uploads those writes queued for the job
store (SQLite takes one writer at a time across the workers, and its busy handler
sleeps while it waits), and a fast upload's thread stalled in its own progress write:
a 32 MiB PUT beside 1,000 slow ones took 3 to 9 s instead of 0.1. Now a receiving
thread only notes its count; this thread writes the latest count of each upload once a
second, and never over a job that is no longer receiving.
"""

from __future__ import annotations

import logging
import threading
import time

from paimon.jobs.model import JobState
from paimon.jobs.store import JobNotFound, JobStore, StateConflict

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0


class ProgressWriter:
    def __init__(self, jobs: JobStore, interval: float = FLUSH_SECONDS):
        self._jobs = jobs
        self._interval = interval
        self._pending: dict[str, int] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def report(self, job_id: str, received: int) -> None:
        """Note ``received`` bytes of the job's body; written within a second."""
        with self._lock:
            self._pending[job_id] = received
            if self._thread is None:  # started in the worker that uses it, after the fork
                self._thread = threading.Thread(
                    target=self._run, name="progress-writer", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:  # a daemon thread: it ends with its process
            time.sleep(self._interval)
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for job_id, received in pending.items():
            try:
                self._jobs.update(job_id, expect={JobState.RECEIVING}, bytes_received=received)
            except (JobNotFound, StateConflict):
                pass  # finished or deleted meanwhile: its final count is written already
            except Exception:  # the store is down for a moment: the next count will do
                log.warning("could not write an upload's progress", exc_info=True)
