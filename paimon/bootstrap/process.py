"""What this process runs with: its settings, loaded once, and the worker plan.

Settings are read from the environment (and ``.env``) once per process: gunicorn's
master reads them in gunicorn.conf.py (again on a reload, SIGHUP), and the worker class,
the server hooks and the workers, forked from it, use that reading. Any other process
(``paimon doctor``, a WSGI server other than gunicorn, a script) reads them on first
use. Imports nothing of the app: gunicorn.conf.py calls this before the metrics
directory is set, and anything importing prometheus_client before then breaks metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

from paimon import capacity
from paimon.config import Settings, load_settings, load_settings_or_exit

_settings: Settings | None = None


def reload_or_exit(*, warn_unknown: bool = False) -> Settings:
    """Read the settings anew and keep them for this process; a bad setting ends it
    with one line per bad field (``warn_unknown``: and a line per PAIMON_* name that is
    no setting). For gunicorn.conf.py, which gunicorn runs again on a reload."""
    global _settings
    _settings = load_settings_or_exit(warn_unknown=warn_unknown)
    return _settings


def settings_or_exit() -> Settings:
    """This process's settings, read on first use; a bad setting ends the process."""
    return _settings or reload_or_exit()


def settings() -> Settings:
    """This process's settings, read on first use; SettingsError (one line per bad
    field) for a caller that reports rather than exits, such as ``paimon doctor``."""
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


@dataclass(frozen=True)
class WorkerPlan:
    """How many workers serve, and what each one holds."""

    workers: int
    decided_by: str  # what chose the count: the setting, or the container's limits
    upload_slots: int  # bodies each worker receives at once (its share of the instance's)
    threads: int  # per worker: one per upload slot, and PAIMON_THREADS for the rest


def worker_plan(settings: Settings) -> WorkerPlan:
    """The same answer in gunicorn's master (which starts the workers) and in each
    worker (which admits its share of uploads): same settings, same container."""
    workers, decided_by = capacity.choose_workers(settings.workers)
    slots = capacity.upload_slots_per_worker(settings.max_concurrent_uploads, workers)
    return WorkerPlan(workers, decided_by, slots, slots + settings.threads)
