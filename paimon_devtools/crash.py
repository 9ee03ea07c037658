"""A whole server crashed and the same command started again at once, for
tests/e2e/test_heal_server_crash.py and ``scripts/bench --recovery``.

The server (gunicorn, its workers) runs under a parent that reaps nothing
(paimon_devtools/subreaper.py), optionally in a fresh PID namespace; it is SIGKILLed as
a whole process group while two MEGA transfers run and a tus PATCH is half sent, then
started again on the same port and data directory. ``crashed_and_restarted`` times, from
the new server answering /healthz, the cut PATCH accepted and the transfers taken over
and resumed from what MEGA acknowledged (paimon/jobs/owners.py gives the dead workers'
leases back).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

from paimon.jobs.store import JobStore
from paimon_devtools.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from paimon_devtools.servers import ServerProcess, eventually, free_port

MIB = 1 << 20
TUS = {"Tus-Resumable": "1.0.0"}
SIZE = 12 * MIB  # each of two MEGA transfers
CONNECTIONS = 4
PER_CONNECTION = 400_000  # bytes/s into the emulator: 1.6 MB/s, about 8 s a transfer
TUS_SIZE = 2 * MIB
PIECE = 64 * 1024  # the cut PATCH sends its body in these, PAUSE apart
PAUSE = 0.5
KILL_AT = 0.25  # of each transfer acknowledged by MEGA when the server is killed
LEASE_SECONDS = 30  # the default: waiting it out is what recovery must not do

# A parent that reaps nothing while the server runs.
UNREAPING_PARENT = [sys.executable, "-m", "paimon_devtools.subreaper"]
RESTARTS = {
    # the old workers stay zombies, which answer kill(pid, 0) as if alive
    "unreaped": UNREAPING_PARENT,
    # a fresh PID namespace each, as a container restart: the new workers get the old pids
    "new-pid-namespace": [*UNREAPING_PARENT, "unshare", "--pid", "--fork", "--mount-proc"],
}


def server_settings(sim: MegaSim, data_dir: Path, **store: str) -> dict[str, str]:
    """Both servers of a crash store in the emulator, through one data directory."""
    return {
        "mega_api_url": sim.url,
        "mega_email": V2_EMAIL,
        "mega_password": V2_PASSWORD,
        "mega_upload_connections": str(CONNECTIONS),
        "job_lease_seconds": str(LEASE_SECONDS),
        "transfer_concurrency": "2",
        "data_dir": str(data_dir),
        **store,
    }


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


class CutTusUpload(threading.Thread):
    """A tus upload whose one PATCH sends its body slowly, so that a crash cuts it."""

    def __init__(self, server: ServerProcess, content: bytes):
        super().__init__(daemon=True)
        self.content = content
        created = requests.post(
            f"{server.url}/tus/", headers={**TUS, "Upload-Length": str(len(content))}, timeout=10
        )
        if created.status_code != 201:
            raise RuntimeError(f"tus upload not created: {created.status_code} {created.text}")
        self.path = urlsplit(created.headers["Location"]).path
        self.id = self.path.rsplit("/", 1)[1]
        self.address = urlsplit(server.url).port
        self.sent = 0
        self.answered: bytes | None = None  # the reply's first line, if one came
        self.start()

    def run(self) -> None:
        head = (
            f"PATCH {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
            "Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {len(self.content)}\r\n\r\n"
        ).encode()
        try:
            with socket.create_connection(("127.0.0.1", self.address), timeout=60) as sock:
                sock.sendall(head)
                for start in range(0, len(self.content), PIECE):
                    sock.sendall(self.content[start : start + PIECE])
                    self.sent = start + PIECE
                    time.sleep(PAUSE)
                self.answered = sock.makefile("rb").readline() or None
        except OSError:  # the crash cut the connection
            pass

    def resumed(self, url: str) -> bool:
        """HEAD for the offset, then PATCH the rest, as a tus client does: accepted?"""
        offset = requests.head(f"{url}{self.path}", headers=TUS, timeout=10)
        if offset.status_code != 200:
            return False
        kept = int(offset.headers["Upload-Offset"])
        headers = {
            **TUS,
            "Upload-Offset": str(kept),
            "Content-Type": "application/offset+octet-stream",
        }
        rest = self.content[kept:]
        return requests.patch(f"{url}{self.path}", data=rest, headers=headers, timeout=30).ok


@dataclass
class Crash:
    """One crash and restart: what ran, and when each thing recovered, in seconds from
    the new server answering /healthz (inf: not within two leases)."""

    restart: str
    first: ServerProcess
    transfers: dict[str, bytes]  # job id: content
    tus: CutTusUpload
    old_owners: list[str]  # the transfers' and the tus upload's, when killed
    old_workers: list[int]  # pids, as seen from here
    second: ServerProcess | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def watch(self, jobs: JobStore, second: ServerProcess, since: float) -> None:
        """Poll every condition not yet met, together, until all are (or 2 leases pass):
        the cut PATCH accepted; both transfers taken over (a second attempt started);
        both resumed (sending again from the byte MEGA had acknowledged, which the new
        attempt asked for). MEGA acknowledges a resumed POST only once it is whole, a few
        MiB at PER_CONNECTION: seconds later, set by the path, not by the recovery."""

        def resumed() -> bool:
            now = [jobs.get(job_id) for job_id in self.transfers]
            return all(j.attempts >= 2 and j.resumed_from is not None for j in now)

        conditions = {
            "tus_patch_accepted": lambda: self.tus.resumed(second.url),
            "transfers_taken_over": lambda: all(
                jobs.get(job_id).attempts >= 2 for job_id in self.transfers
            ),
            "transfers_resumed": resumed,
        }
        self.seconds = dict.fromkeys(conditions, float("inf"))

        def all_met() -> bool:
            for name, condition in conditions.items():
                if self.seconds[name] == float("inf") and condition():
                    self.seconds[name] = time.monotonic() - since
            return float("inf") not in self.seconds.values()

        eventually(all_met, timeout=2 * LEASE_SECONDS, interval=0.1)


@contextmanager
def crashed_and_restarted(
    start: Callable[..., ServerProcess],
    sim: MegaSim,
    jobs: JobStore,
    workdir: Path,
    restart: str,
    settings: dict[str, str],
) -> Iterator[Crash]:
    """Start a server with ``start`` (``start_server``'s signature) under RESTARTS[restart],
    crash it mid-transfer and mid-PATCH, start it again at once and time its recovery;
    both servers stop at the end (the unreaping parent reaps everything as it goes)."""
    port, wrapper = free_port(), RESTARTS[restart]
    for name in ("first", "second"):
        (workdir / name).mkdir(parents=True, exist_ok=True)
    first = start(workdir / "first", port=port, wrapper=wrapper, **settings)
    crashed = None
    try:
        warm = requests.post(f"{first.url}/upload", files={"file": ("w.bin", b"w")}, timeout=60)
        warm.raise_for_status()  # logged in, folder made
        sim.network(connection_bytes_per_second=PER_CONNECTION)
        transfers = {}
        for n in range(2):
            content = os.urandom(SIZE)
            reply = requests.post(
                f"{first.url}/upload",
                files={"file": (f"crash-{n}.bin", content)},
                headers={"Prefer": "respond-async"},
                timeout=60,
            )
            reply.raise_for_status()
            transfers[reply.json()["id"]] = content
        tus = CutTusUpload(first, os.urandom(TUS_SIZE))

        def in_flight() -> bool:
            running = [jobs.get(job_id) for job_id in transfers]
            return (
                all(j.bytes_stored >= KILL_AT * SIZE and j.transfer_state for j in running)
                and tus.sent >= 4 * PIECE
                and "tus-" in (jobs.get(tus.id).lease_owner or "")
            )

        if not eventually(in_flight, timeout=60, interval=0.02):
            raise RuntimeError("the transfers and the PATCH were not all in flight in 60 s")
        old_owners = [jobs.get(job_id).lease_owner or "" for job_id in [*transfers, tus.id]]
        crashed = Crash(restart, first, transfers, tus, old_owners, workers(first))
        crash(first)
        crashed.second = start(workdir / "second", port=port, wrapper=wrapper, **settings)
        healthy = time.monotonic()  # start returns once /healthz answers
        tus.join(timeout=30)
        crashed.watch(jobs, crashed.second, since=healthy)
        yield crashed
    finally:
        if crashed is not None and crashed.second is not None:
            crashed.second.stop()
        first.stop()
