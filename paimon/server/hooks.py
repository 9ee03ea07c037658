"""The gunicorn server hooks gunicorn.conf.py installs (they run in the master, or in
a worker as it exits).

Imported by gunicorn.conf.py before the metrics directory is set, so nothing here may
import prometheus_client at module level: the composition root's wiring, which builds
the app, is imported late.
"""

from __future__ import annotations

import logging
from typing import Any

from paimon.bootstrap import process
from paimon.observability import multiproc

log = logging.getLogger(__name__)


def child_exit(server: Any, worker: Any) -> None:
    """A worker is gone (it exited, or was killed: SIGKILL, the OOM killer): its metrics
    are folded in, and the leases it held are given back at once, so its transfers are
    resumed and its tus uploads accept the next PATCH without waiting out the lease."""
    multiproc.worker_exited(worker.pid)
    _release_leases_of_dead_workers()


def _release_leases_of_dead_workers() -> None:
    """In the master: a store of its own, closed again before gunicorn forks the
    replacement worker (connections must not cross a fork)."""
    from paimon.bootstrap.wiring import build_job_store, build_lease_owners

    try:
        settings = process.settings()
        store = build_job_store(settings)
        try:
            build_lease_owners(settings).release_dead_leases(store)
        finally:
            store.close()
    except Exception:  # the store may be unreachable: lease expiry still frees them
        log.exception("could not release the leases of a dead worker")


def on_exit(server: Any) -> None:
    multiproc.remove_metrics_dir()


def worker_exit(server: Any, worker: Any) -> None:
    """Hand this worker's upload jobs back to the queue so another worker, or the next
    start, resumes them at once instead of after their lease runs out."""
    from paimon.bootstrap.wiring import stop

    stop(getattr(worker, "wsgi", None))
