"""Few logins: a 4-worker server started four times logs in to MEGA exactly once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from tests.support.servers import start_server

CONCURRENT_CHECKS = 24  # spread over the workers: each one that serves logs in or reuses


def storage_ready(url: str) -> str:
    """The storage part of /readyz ("mega ready"); the spool check has a race of its own
    under concurrent probes (a worker's probe file vanishing), which is not at issue here."""
    return requests.get(f"{url}/readyz", timeout=60).json()["checks"]["storage"]["detail"]


def test_four_workers_restarted_three_times_log_in_once(megasim: MegaSim, tmp_path: Path) -> None:
    logins = megasim.state()["logins"]
    settings = {
        "workers": "4",
        "storage": "mega",
        "mega_api_url": megasim.url,
        "mega_email": V2_EMAIL,
        "mega_password": V2_PASSWORD,
    }
    logs = []
    for _ in range(4):  # the first start and three restarts, same data directory
        server = start_server(tmp_path, **settings)
        try:
            with ThreadPoolExecutor(max_workers=CONCURRENT_CHECKS) as pool:
                details = list(pool.map(storage_ready, [server.url] * CONCURRENT_CHECKS))
            assert details == ["mega ready"] * CONCURRENT_CHECKS
        finally:
            server.stop()
        logs.append(server.logs())

    assert megasim.state()["logins"] == logins + 1
    assert sum(log.count("Logging in to MEGA") for log in logs) == 1
    saved = tmp_path / "data" / "mega" / "session.json"
    assert saved.stat().st_mode & 0o777 == 0o600
    assert V2_PASSWORD not in saved.read_text()
