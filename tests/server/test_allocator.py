"""The gunicorn master restarts itself once with glibc's malloc tuned for many threads
(paimon/server/allocator.py), and its workers inherit it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from paimon.server.allocator import LEAN_MALLOC, VARIABLE, uses_glibc
from tests.support.servers import REPO_ROOT, clean_environ

pytestmark = pytest.mark.skipif(not uses_glibc(), reason="GLIBC_TUNABLES is glibc's")

# Runs the restart in a child Python, then prints what the restarted process sees.
PROBE = """
import os, sys
from paimon.server.allocator import restart_with_lean_malloc
print("start", os.getpid(), flush=True)
restart_with_lean_malloc()
print("after", os.getpid(), os.environ.get("GLIBC_TUNABLES", ""), sys.argv[1:], flush=True)
"""


def run_probe(**env: str) -> list[str]:
    """The probe's output lines, started with ``env`` and no GLIBC_TUNABLES of ours."""
    environ = {k: v for k, v in clean_environ().items() if k != VARIABLE}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "one", "two"],
        env=environ | {"PYTHONPATH": str(REPO_ROOT)} | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.splitlines()


def test_the_process_restarts_once_as_itself_with_the_lean_malloc() -> None:
    lines = run_probe()
    # Started twice (the restart), under one pid, with its arguments, and only once more.
    starts = [line for line in lines if line.startswith("start")]
    assert len(starts) == 2
    assert len({line.split()[1] for line in starts}) == 1
    assert lines[-1] == f"after {starts[0].split()[1]} {':'.join(LEAN_MALLOC)} ['one', 'two']"


def test_other_tunables_are_kept_and_an_operators_malloc_choice_wins() -> None:
    lines = run_probe(GLIBC_TUNABLES="glibc.rtld.optional_static_tls=2048")
    assert len([line for line in lines if line.startswith("start")]) == 2
    assert lines[-1].split()[2] == ":".join(("glibc.rtld.optional_static_tls=2048", *LEAN_MALLOC))

    chosen = "glibc.malloc.arena_max=8"
    lines = run_probe(GLIBC_TUNABLES=chosen)
    assert len([line for line in lines if line.startswith("start")]) == 1
    assert lines[-1].split()[2] == chosen


def tunables_of(pid: int) -> str:
    """GLIBC_TUNABLES as process ``pid`` started with it. glibc overwrites the ':' between
    tunables in place with NUL as it parses them, so the later ones follow as entries
    of their own (no variable's name holds a dot)."""
    entries = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    prefix = f"{VARIABLE}="
    first = next(i for i, entry in enumerate(entries) if entry.startswith(prefix))
    tunables = [entries[first].removeprefix(prefix)]
    for entry in entries[first + 1 :]:
        if not entry.startswith("glibc."):
            break
        tunables.append(entry)
    return ":".join(tunables)


def test_gunicorn_master_and_workers_run_with_the_lean_malloc(local_server) -> None:
    assert requests.get(f"{local_server.url}/healthz", timeout=10).status_code == 200
    master = local_server.process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert len(children) == 2  # PAIMON_WORKERS=2
    for pid in (master, *map(int, children)):
        assert tunables_of(pid) == ":".join(LEAN_MALLOC), pid
