"""Running ``paimon doctor --json`` on this source tree, in a process of its own."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from paimon_devtools.servers import REPO_ROOT, clean_environ


def run_doctor(python: str | Path, cwd: Path, **env: str) -> tuple[int, dict]:
    """`python -m paimon doctor --json` on this source tree (as start_server runs it)."""
    result = subprocess.run(
        [str(python), "-m", "paimon", "doctor", "--json"],
        cwd=cwd,
        env=clean_environ() | {"PYTHONPATH": str(REPO_ROOT)} | env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, json.loads(result.stdout)


def by_name(report: dict) -> dict[str, dict]:
    return {check["name"]: check for check in report["checks"]}
