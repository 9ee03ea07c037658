"""The running emulator and gunicorn every measurement uses, and the files it sends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from paimon.storage.mega.client import MegaClient
from paimon.storage.mega.crypto import decrypt_file, parse_link
from paimon_devtools.bench.client import CLIENT_TIMEOUT, send_concurrently, send_file
from paimon_devtools.bench.plan import Plan, make_file
from paimon_devtools.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from paimon_devtools.servers import ServerProcess, start_server


@dataclass
class Rig:
    """The emulator, the server, a scratch folder and the main file, for one run."""

    plan: Plan
    sim: MegaSim
    server: ServerProcess
    files: Path
    client: MegaClient  # Paimon's own API client, logged in to the emulator's account
    main_file: Path

    def forget_files(self) -> None:
        """Delete every file in the emulator, so its memory or disk does not pile up."""
        nodes = self.client.call({"a": "f", "c": 1})["f"]
        for node in nodes:
            if node["t"] == 0:
                self.client.call({"a": "d", "n": node["h"]})

    def warm_up_and_verify(self) -> None:
        """Log every worker in, check one link, then stop the emulator storing ciphertext.

        The link must decrypt to the file (meta-MAC checked): fast and also right. After
        that the emulator only reads and checks bodies: MEGA's storage costs Paimon
        nothing, while the emulator's page cache would take CPU from the 2 cores measured.
        """
        self.verify(send_file(self.server.url, self.main_file).link)
        send_concurrently(self.server.url, self.main_file, os.cpu_count() or 1)
        self.forget_files()
        self.sim.keep_ciphertext(False)

    def verify(self, link: str) -> None:
        handle, key = parse_link(link)
        url = self.client.call({"a": "g", "g": 1, "p": handle})["g"]
        response = self.client.session.get(url, timeout=CLIENT_TIMEOUT)
        response.raise_for_status()
        if decrypt_file(response.content, key) != self.main_file.read_bytes():
            raise RuntimeError("the uploaded file does not decrypt to what was sent")


@contextmanager
def running(plan: Plan, workdir: Path) -> Iterator[Rig]:
    """The emulator and gunicorn as deployed, both stopped at exit (also on Ctrl-C)."""
    with ExitStack() as stack:
        sim_dir = workdir / "megasim"
        sim_dir.mkdir()
        sim = stack.enter_context(MegaSim.start(sim_dir, v1_accounts={}))
        server = start_server(
            workdir,
            storage="mega",
            mega_api_url=sim.url,
            mega_email=V2_EMAIL,
            mega_password=V2_PASSWORD,
            workers=str(os.cpu_count() or 1),  # gunicorn.conf.py's default, made explicit
        )
        stack.callback(server.stop)
        files = workdir / "files"
        files.mkdir()
        client = MegaClient(sim.url, V2_EMAIL, SecretStr(V2_PASSWORD))
        yield Rig(plan, sim, server, files, client, make_file(files / "main.bin", plan.main_bytes))
