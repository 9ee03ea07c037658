"""Exactly one MEGA node per job: a node carries its job's id in its encrypted
attributes, and a resumed job adopts the node an earlier attempt created (the worker
died between MEGA's `p` and the job's `done`) instead of making a second one."""

from __future__ import annotations

import os
from pathlib import Path

from mega import Mega

from paimon.bootstrap.wiring import mega_account
from paimon.storage.mega import MegaStorage
from tests.support.mega import FAST_RETRY, download, mega_settings, spool
from tests.support.megasim import MegaSim


def file_nodes(sim: MegaSim) -> list[dict]:
    return [node for node in sim.state()["nodes"] if node["t"] == 0]


def test_a_resumed_job_adopts_its_node(
    backend: MegaStorage, megasim: MegaSim, stock: Mega, tmp_path: Path
) -> None:
    payload = os.urandom(300_000)
    first = backend.store(spool(tmp_path, payload), "one.bin", job_id="job-1")
    # The next attempt runs in another process (the first one was killed after `p`).
    again = MegaStorage(mega_account(mega_settings(megasim)), retry=FAST_RETRY)
    reports: list[int] = []
    adopted = again.store(
        spool(tmp_path, payload, "one-again.bin"),
        "one.bin",
        reports.append,
        job_id="job-1",
        resumed=True,
    )
    assert (adopted.key, adopted.link, adopted.size) == (first.key, first.link, len(payload))
    assert adopted.filename == "one.bin"
    assert reports == [len(payload)]
    assert len(file_nodes(megasim)) == 1
    assert download(megasim, adopted.link) == payload  # the meta-MAC in the key checked
    names = {f["a"]["n"] for f in stock.get_files().values() if f["t"] == 0}
    assert names == {"one.bin"}  # stock mega.py still reads the attributes


def test_other_jobs_and_first_attempts_make_their_own_node(
    backend: MegaStorage, megasim: MegaSim, tmp_path: Path
) -> None:
    one = backend.store(spool(tmp_path, b"one"), "same.txt", job_id="job-1")
    two = backend.store(spool(tmp_path, b"two"), "same.txt", job_id="job-2", resumed=True)
    three = backend.store(spool(tmp_path, b"one"), "same.txt", job_id="job-1")  # not resumed
    assert len({one.key, two.key, three.key}) == 3
    assert len(file_nodes(megasim)) == 3
