"""``scripts/bench --recovery RUNS``: how soon a server whose whole process group was
SIGKILLed mid-transfer and mid-PATCH, and started again at once, resumes its work
(paimon_devtools/crash.py; issue 16's target: within 5 s of /healthz answering).

Each run is a new data directory on the SQLite store (tests/e2e/test_heal_server_crash.py
also runs Redis), once with the old workers left unreaped zombies and once with both
servers in a fresh PID namespace each (needs root, as ``unshare --pid`` does)."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

from paimon.jobs.sqlite import SqliteJobStore
from paimon_devtools.crash import RESTARTS, crashed_and_restarted, server_settings
from paimon_devtools.megasim import MegaSim
from paimon_devtools.servers import start_server

TARGET_SECONDS = 5


def crash_recovery(workdir: Path, runs: int) -> dict[str, object]:
    """Seconds from /healthz answering to each recovery, ``runs`` crashes per restart."""
    restarts = list(RESTARTS) if os.geteuid() == 0 else ["unreaped"]
    (workdir / "megasim").mkdir()
    figures: dict[str, list[dict[str, float]]] = {restart: [] for restart in restarts}
    with MegaSim.start(workdir / "megasim", v1_accounts={}) as sim:
        for restart in restarts:
            for run in range(runs):
                run_dir = workdir / f"{restart}-{run}"
                settings = server_settings(sim, run_dir / "data")
                jobs = SqliteJobStore(run_dir / "data" / "jobs.sqlite3")
                try:
                    with crashed_and_restarted(
                        start_server, sim, jobs, run_dir, restart, settings
                    ) as crashed:
                        figures[restart].append(crashed.seconds)
                finally:
                    jobs.close()
                    sim.network()
                    sim.reset()
    return {"runs": runs, "store": "sqlite", "seconds": figures}


def recovery_table(results: dict[str, object]) -> str:
    """One row per restart and recovery: the median and the worst of the runs."""
    rows = [
        (
            f"whole server SIGKILLed and restarted, {results['runs']} run(s) each, "
            f"{results['store']}: seconds after /healthz (target < {TARGET_SECONDS})",
            "median / max",
        )
    ]
    for restart, runs in results["seconds"].items():  # type: ignore[union-attr]
        rows.append((f"  {restart}", ""))
        for name in runs[0]:
            values = [run[name] for run in runs]
            label = name.replace("_", " ")
            rows.append((f"    {label}", f"{statistics.median(values):8.1f} / {max(values):.1f} s"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
