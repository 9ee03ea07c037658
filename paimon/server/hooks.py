"""The gunicorn server hooks gunicorn.conf.py installs (they run in the master, or in
a worker as it exits).

Imported by gunicorn.conf.py before the metrics directory is set, so nothing here may
import prometheus_client at module level: the app's modules are imported late.
"""

from __future__ import annotations

from typing import Any

from paimon.observability import multiproc


def child_exit(server: Any, worker: Any) -> None:
    multiproc.worker_exited(worker.pid)


def on_exit(server: Any) -> None:
    multiproc.remove_metrics_dir()


def worker_exit(server: Any, worker: Any) -> None:
    """Hand this worker's upload jobs back to the queue so another worker, or the next
    start, resumes them at once instead of after their lease runs out."""
    from paimon.web.context import EXTENSION_KEY

    app = getattr(worker, "wsgi", None)
    services = getattr(app, "extensions", {}).get(EXTENSION_KEY)
    if services is not None:
        services.transfers.shutdown()
