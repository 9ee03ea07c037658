"""Durable upload jobs: the model, the store interface, and the two stores."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paimon.config import Settings
    from paimon.jobs.owners import LeaseOwners
    from paimon.jobs.store import JobStore


def build_job_store(settings: Settings) -> JobStore:
    """Redis when ``PAIMON_REDIS_URL`` is set (several instances share it), else SQLite
    in the data directory (the gunicorn workers of one machine share it)."""
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else ""
    if redis_url:
        from paimon.jobs.redis import RedisJobStore

        return RedisJobStore(redis_url)
    from paimon.jobs.sqlite import SqliteJobStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteJobStore(settings.data_dir / "jobs.sqlite3")


def build_lease_owners(settings: Settings) -> LeaseOwners:
    """Lease owners whose lock files are in ``<data dir>/owners``, beside the spool
    files their jobs transfer (paimon/jobs/owners.py)."""
    from paimon.jobs.owners import LeaseOwners

    return LeaseOwners(settings.data_dir / "owners")
