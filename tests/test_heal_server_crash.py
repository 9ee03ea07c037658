"""A whole server crashed (master and workers SIGKILLed at once, mid-transfer and
mid-PATCH) and the same command started again at once, on the same port and data
directory, as a supervisor or a container engine would: the dead workers' leases are
given back at once (paimon/jobs/owners.py), not after their 30 s, although

- ``unreaped``: the old workers stay zombies (their parent, like a container init that
  does not reap, waits for nothing), which answer ``kill(pid, 0)`` as if alive; or
- ``new-pid-namespace``: both servers run in a fresh PID namespace (``unshare --pid
  --fork --mount-proc``, as a container does, gunicorn as its pid 1), so the new
  workers get the very pids of the old ones.

In both, with either job store, the two MEGA transfers the crash cut off move again,
and the tus PATCH it cut off is accepted, within 5 s of the new server answering
/healthz; the transfers go on from what MEGA acknowledged, and every file arrives
whole (bytes and MACs). Run with ``-s`` to see the recovery times.

And two instances on one host, each in a PID namespace of its own, sharing a data
volume and a Redis (compose.yaml): the one that starts leaves the other's live lease
alone, though its own workers have the pids the owner name says, and takes the
transfer over a third of a lease after the other is killed, not a whole lease.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from paimon.jobs.redis import RedisJobStore
from paimon.jobs.sqlite import SqliteJobStore
from paimon.jobs.store import JobStore
from tests.conftest import ServerProcess, eventually, free_port, start_server
from tests.fixtures.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from tests.rawhttp import request_bytes
from tests.test_jobs_server import job, send_async, stored_content
from tests.test_shutdown import MIB, PIECE, TUS, SlowBody
from tests.test_tus import patch

LEASE_SECONDS = 30  # the default: waiting it out is what recovery must not do
RECOVERY_SECONDS = 5  # from /healthz answering to a PATCH accepted, a transfer moving
SIZE = 12 * MIB  # each of two MEGA transfers
CONNECTIONS = 4
PER_CONNECTION = 400_000  # bytes/s into the emulator: 1.6 MB/s, about 8 s a transfer
TUS_SIZE = 2 * MIB
KILL_AT = 0.25  # of each transfer acknowledged by MEGA when the server is killed

# A parent that reaps nothing while the test runs (tests/fixtures/subreaper.py).
UNREAPING_PARENT = [sys.executable, "-m", "tests.fixtures.subreaper"]
RESTARTS = {
    "unreaped": UNREAPING_PARENT,
    "new-pid-namespace": [*UNREAPING_PARENT, "unshare", "--pid", "--fork", "--mount-proc"],
}


@pytest.fixture(params=["sqlite", "redis"])
def store_settings(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "redis":
        return {"redis_url": request.getfixturevalue("redis_db").url}
    return {}


def server_settings(megasim: MegaSim, data_dir: Path, **store: str) -> dict[str, str]:
    """Both servers of a test store in the emulator, through one data directory."""
    return {
        "mega_api_url": megasim.url,
        "mega_email": V2_EMAIL,
        "mega_password": V2_PASSWORD,
        "mega_upload_connections": str(CONNECTIONS),
        "job_lease_seconds": str(LEASE_SECONDS),
        "transfer_concurrency": "2",
        "data_dir": str(data_dir),
        **store,
    }


def open_store(data_dir: Path, settings: dict[str, str]) -> JobStore:
    if "redis_url" in settings:
        return RedisJobStore(settings["redis_url"])
    return SqliteJobStore(data_dir / "jobs.sqlite3")


# Processes, as /proc shows them from here --------------------------------------------


def children(pid: int) -> list[int]:
    try:
        return [
            int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        ]
    except OSError:  # gone
        return []


def descendants(pid: int) -> list[int]:
    return [grandchild for child in children(pid) for grandchild in [child, *descendants(child)]]


def state(pid: int) -> str:
    """The state letter of /proc/<pid>/stat: R, S, Z (zombie), ..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def pid_inside(pid: int) -> int:
    """The process's pid in its own (innermost) PID namespace."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("NSpid:")).split()[-1])


def workers(server: ServerProcess) -> list[int]:
    """The gunicorn workers under the server's wrapper: the leaves of its process tree."""
    return [pid for pid in descendants(server.process.pid) if not children(pid)]


def crash(server: ServerProcess) -> None:
    """SIGKILL the server's whole process group (the wrapper's child leads it)."""
    os.killpg(children(server.process.pid)[0], signal.SIGKILL)


def owner_pid(owner: str) -> int:
    return int(owner.split(":")[2])


# The upload cut off in the middle of a PATCH -------------------------------------------


class CutTusUpload:
    """A tus upload whose one PATCH sends its body slowly, so that a crash cuts it."""

    def __init__(self, server: ServerProcess, content: bytes):
        self.content = content
        created = requests.post(
            f"{server.url}/tus/", headers={**TUS, "Upload-Length": str(len(content))}, timeout=10
        )
        assert created.status_code == 201, created.text
        self.path = urlsplit(created.headers["Location"]).path
        self.id = self.path.rsplit("/", 1)[1]
        head = request_bytes(
            "PATCH",
            self.path,
            headers={
                **TUS,
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(len(content)),
            },
        )
        self.body = SlowBody(server.url, head, content, pause=0.5)
        self.body.start()

    def resumed(self, url: str) -> bool:
        """HEAD for the offset, then PATCH the rest, as a tus client does: accepted?"""
        offset = requests.head(f"{url}{self.path}", headers=TUS, timeout=10)
        kept = int(offset.headers["Upload-Offset"])
        return patch(f"{url}{self.path}", kept, self.content[kept:]).status_code == 204


class Recovery:
    """When each of several things recovered, in seconds from ``since``: ``watch``
    polls every condition not yet met, together, until all are (or 2 leases pass)."""

    def __init__(self, since: float):
        self.since = since
        self.seconds: dict[str, float] = {}
        self._conditions: dict[str, Callable[[], bool]] = {}

    def watch(self, name: str, condition: Callable[[], bool]) -> None:
        self._conditions[name] = condition
        self.seconds[name] = float("inf")

    def wait(self) -> None:
        def all_met() -> bool:
            for name, condition in self._conditions.items():
                if self.seconds[name] == float("inf") and condition():
                    self.seconds[name] = time.monotonic() - self.since
            return float("inf") not in self.seconds.values()

        eventually(all_met, timeout=2 * LEASE_SECONDS, interval=0.1)


@pytest.mark.parametrize("restart", list(RESTARTS))
def test_a_crashed_server_restarted_at_once_resumes_within_5_s(
    restart: str,
    store_settings: dict[str, str],
    megasim: MegaSim,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data_dir = tmp_path_factory.mktemp("crashed") / "data"
    settings = server_settings(megasim, data_dir, **store_settings)
    port, wrapper = free_port(), RESTARTS[restart]
    first = start_server(tmp_path_factory.mktemp("first"), port=port, wrapper=wrapper, **settings)
    second = None
    jobs = open_store(data_dir, settings)
    try:
        warm = requests.post(f"{first.url}/upload", files={"file": ("w.bin", b"w")}, timeout=60)
        assert warm.status_code == 200, warm.text  # logged in, folder made
        megasim.network(connection_bytes_per_second=PER_CONNECTION)
        contents = [os.urandom(SIZE) for _ in range(2)]
        transfers = [send_async(first, f"crash-{n}.bin", data) for n, data in enumerate(contents)]
        tus = CutTusUpload(first, os.urandom(TUS_SIZE))

        def in_flight() -> bool:
            running = [jobs.get(job_id) for job_id in transfers]
            return (
                all(j.bytes_stored >= KILL_AT * SIZE and j.transfer_state for j in running)
                and tus.body.sent >= 4 * PIECE
                and "tus-" in (jobs.get(tus.id).lease_owner or "")
            )

        assert eventually(in_flight, timeout=60, interval=0.02)
        old_owners = [jobs.get(job_id).lease_owner for job_id in [*transfers, tus.id]]
        old_workers = workers(first)
        crash(first)
        second = start_server(
            tmp_path_factory.mktemp("second"), port=port, wrapper=wrapper, **settings
        )
        healthy = time.monotonic()

        if restart == "unreaped":
            assert {state(pid) for pid in old_workers} == {"Z"}  # kill(pid, 0) succeeds
        else:  # the old owners' pids belong to the new workers now
            assert {owner_pid(owner) for owner in old_owners} <= {
                pid_inside(pid) for pid in workers(second)
            }
        tus.body.join(timeout=30)
        assert tus.body.reply is None  # the crash cut it off

        recovered = Recovery(healthy)
        recovered.watch("tus", lambda: tus.resumed(second.url))
        recovered.watch("transfers", lambda: all(jobs.get(j).attempts >= 2 for j in transfers))
        recovered.wait()
        accepted, moved = recovered.seconds["tus"], recovered.seconds["transfers"]
        print(
            f"\n{restart}, {'redis' if store_settings else 'sqlite'}: after /healthz, "
            f"the cut tus PATCH was accepted in {accepted:.1f} s, "
            f"the transfers moved again in {moved:.1f} s"
        )
        assert accepted < RECOVERY_SECONDS
        assert moved < RECOVERY_SECONDS
        assert "lease(s) of dead processes" in second.logs()

        every = [*transfers, tus.id]
        assert eventually(lambda: all(job(second, j)["state"] == "done" for j in every), 120)
        megasim.network()  # unshaped again, to read the files back
        for job_id, content in zip(transfers, contents, strict=True):
            view = job(second, job_id)
            assert view["attempts"] == 2
            assert view["resumed_from"] > 0  # from what MEGA had acknowledged
            assert stored_content(megasim, view["link"]) == content
        assert stored_content(megasim, job(second, tus.id)["link"]) == tus.content
    finally:
        jobs.close()
        for server in (second, first):
            if server is not None:
                server.stop()  # the unreaping parent reaps everything as it goes


def test_an_instance_sharing_the_volume_takes_a_dead_ones_transfer_over_before_its_lease_ends(
    redis_db, megasim: MegaSim, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """compose.yaml on one host: two instances, each a container (a PID namespace of its
    own, so both have workers with pids 2 and 3), share a Redis and a data volume. The
    instance that starts while the other transfers leaves that transfer alone; once the
    other is killed whole, it takes the transfer over at its next maintenance pass, a
    third of a lease, instead of after the lease."""
    data_dir = tmp_path_factory.mktemp("shared") / "data"
    settings = server_settings(megasim, data_dir, redis_url=redis_db.url)
    container = RESTARTS["new-pid-namespace"]
    first = start_server(tmp_path_factory.mktemp("first"), wrapper=container, **settings)
    other = None
    jobs = open_store(data_dir, settings)
    try:
        warm = requests.post(f"{first.url}/upload", files={"file": ("w.bin", b"w")}, timeout=60)
        assert warm.status_code == 200, warm.text
        megasim.network(connection_bytes_per_second=PER_CONNECTION)
        content = os.urandom(2 * SIZE)  # 16 s: still running when the other has started
        job_id = send_async(first, "shared.bin", content)

        def in_flight() -> bool:
            running = jobs.get(job_id)
            return running.bytes_stored >= KILL_AT * SIZE and running.transfer_state is not None

        assert eventually(in_flight, timeout=60, interval=0.02)
        running = jobs.get(job_id)

        other = start_server(tmp_path_factory.mktemp("other"), wrapper=container, **settings)
        assert owner_pid(running.lease_owner) in {pid_inside(pid) for pid in workers(other)}
        time.sleep(2)  # the other's workers started, and made their first pass
        still = jobs.get(job_id)
        assert (still.lease_owner, still.lease_token) == (running.lease_owner, running.lease_token)
        assert still.state == "transferring" and still.bytes_stored < len(content)

        crash(first)
        lease_ends = jobs.get(job_id).lease_expires  # nobody renews it any more
        assert eventually(lambda: jobs.get(job_id).attempts >= 2, timeout=2 * LEASE_SECONDS)
        taken_over = time.time()
        print(f"\ntaken over {lease_ends - taken_over:.1f} s before the dead one's lease ended")
        assert taken_over < lease_ends
        assert eventually(lambda: job(other, job_id)["state"] == "done", timeout=120)
        megasim.network()
        view = job(other, job_id)
        assert view["resumed_from"] > 0
        assert stored_content(megasim, view["link"]) == content
    finally:
        jobs.close()
        for server in (other, first):
            if server is not None:
                server.stop()
