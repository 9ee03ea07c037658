"""The MEGA backend's folders (paimon/storage/mega/folders.py) on the emulator: nested
paths created on demand, and two processes' backends (each its own session directory,
cache and lock, as two instances have) creating the same new path at the same moment
end with one folder of each name, both using it. Read back by stock mega.py."""

from __future__ import annotations

import threading

from mega import Mega

from paimon.bootstrap.wiring import mega_account
from paimon.storage.mega import MegaStorage
from tests.support.mega import FAST_RETRY, mega_settings
from tests.support.megasim import MegaSim


def folders_named(stock: Mega, name: str) -> list[str]:
    return [h for h, n in stock.get_files().items() if n["t"] == 1 and n["a"]["n"] == name]


def look_up(backend: MegaStorage, path: str, start: threading.Barrier, handles: list[str]) -> None:
    """At the barrier, the backend's handle of ``path`` (found, or created)."""
    start.wait()
    handles.append(backend._folder_handle(folder=path))


def test_two_backends_creating_one_new_path_at_once_make_one_folder_each(
    megasim: MegaSim, stock: Mega
) -> None:
    backends = [
        MegaStorage(mega_account(mega_settings(megasim)), retry=FAST_RETRY) for _ in range(2)
    ]
    for backend in backends:
        backend.check()  # logged in, the upload folder found: only the new path races
    for path in ("race/one", "race/two/deeper"):
        start = threading.Barrier(len(backends))
        handles: list[str] = []
        threads = [
            threading.Thread(target=look_up, args=(b, path, start, handles)) for b in backends
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(handles) == 2
        assert handles[0] == handles[1]  # both use the same folder
    assert len(folders_named(stock, "race")) == 1
    assert len(folders_named(stock, "one")) == 1
    assert len(folders_named(stock, "two")) == 1
    (deeper,) = folders_named(stock, "deeper")
    nodes = stock.get_files()
    (two,) = folders_named(stock, "two")
    assert nodes[deeper]["p"] == two
    assert backends[0].folder_path("race/two/deeper") == "Paimon/race/two/deeper"
