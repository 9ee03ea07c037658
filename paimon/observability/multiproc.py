"""prometheus_client's multiprocess mode under gunicorn, driven from gunicorn.conf.py.

Each worker writes its counters and histograms to memory-mapped files in one directory
(``PROMETHEUS_MULTIPROC_DIR``) and ``/metrics`` sums them, so any worker answers for
all. The variable must be set before prometheus_client is first imported (gunicorn's
master imports it with the worker class, before any hook runs), so gunicorn.conf.py
calls ``use_metrics_dir`` as it loads; this module does not import prometheus_client.
"""

from __future__ import annotations

import os
import shutil
import tempfile

ENV = "PROMETHEUS_MULTIPROC_DIR"

#: The directory this process made, removed at exit (never one set by an operator).
_created: str | None = None


def use_metrics_dir() -> None:
    """Export a new empty directory for the metrics, unless one is set already: an
    operator's own (which must start empty), or ours when gunicorn reloads its config."""
    global _created
    if not os.environ.get(ENV):
        _created = os.environ[ENV] = tempfile.mkdtemp(prefix="paimon-metrics-")


def worker_exited(pid: int) -> None:
    """Let prometheus_client drop what a dead worker kept for live gauges; its counters
    stay in the sums."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


def remove_metrics_dir() -> None:
    """Delete the directory made by ``use_metrics_dir`` when the server stops."""
    if _created:
        shutil.rmtree(_created, ignore_errors=True)
