"""The MEGA backend against the emulator: uploads of awkward sizes, read back two ways."""

from __future__ import annotations

import os
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
from mega import Mega

from paimon.bootstrap.wiring import mega_account
from paimon.storage.base import StorageBackend
from paimon.storage.mega import MegaStorage
from paimon.storage.mega.crypto import parse_link
from tests.support.mega import FAST_RETRY, download, legacy_link, mega_settings, spool
from tests.support.megasim import MegaSim
from tests.support.uploads import MIB

SIZES = [0, 1, 15, 16, 17, 131_072, 131_073, 131_082, 131_088, 131_089, 5 * MIB + 3]


def megapy_can_read(size: int) -> bool:
    """mega.py's download crashes on an empty file and on a last chunk of 1-16 bytes."""
    return size == 1 or (size > 16 and size % 131_072 not in range(1, 17))


def folders(sim: MegaSim) -> list[dict]:
    return [node for node in sim.state()["nodes"] if node["t"] == 1]


def test_is_a_storage_backend(backend: MegaStorage) -> None:
    checked: StorageBackend = backend
    assert checked.name == "mega"


@pytest.mark.parametrize("size", SIZES)
def test_upload_reads_back_byte_for_byte(
    size: int, backend: MegaStorage, megasim: MegaSim, stock: Mega, tmp_path: Path
) -> None:
    payload = os.urandom(size)
    source = spool(tmp_path, payload)

    stored = backend.store(source, f"file-{size}.bin")

    assert (stored.filename, stored.size) == (f"file-{size}.bin", size)
    assert stored.link.startswith("https://mega.nz/file/")
    assert download(megasim, stored.link) == payload  # our decryptor checks the meta-MAC
    assert source.read_bytes() == payload  # the spool file is the caller's to delete
    if megapy_can_read(size):
        downloads = tmp_path / "stock"
        downloads.mkdir()
        path = stock.download_url(legacy_link(stored.link), dest_path=str(downloads))
        assert Path(path).read_bytes() == payload
        assert Path(path).name == f"file-{size}.bin"


def test_node_key_and_name_as_megapy_reads_them(
    backend: MegaStorage, stock: Mega, tmp_path: Path
) -> None:
    stored = backend.store(spool(tmp_path, b"hello"), "Grüße, 世界.txt")
    node = stock.get_files()[stored.key]
    assert node["a"] == {"n": "Grüße, 世界.txt"}
    assert node["s"] == 5
    assert tuple(node["key"]) == parse_link(stored.link)[1]


def test_large_upload_keeps_memory_flat(
    backend: MegaStorage, megasim: MegaSim, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    with source.open("wb") as out:
        for _ in range(64):
            out.write(os.urandom(MIB))
        out.write(b"tail!")
    backend.check()  # log in first: only the upload is measured

    tracemalloc.start()
    try:
        stored = backend.store(source, "big.bin")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 24 * MIB, f"uploading 64 MiB peaked at {peak / MIB:.1f} MiB"
    assert download(megasim, stored.link) == source.read_bytes()


def test_folder_created_when_missing_then_reused(megasim: MegaSim, tmp_path: Path) -> None:
    settings = mega_settings(megasim, mega_folder="Uploads")
    first = MegaStorage(mega_account(settings), retry=FAST_RETRY)
    one = first.store(spool(tmp_path, b"1"), "one.txt")
    two = first.store(spool(tmp_path, b"2"), "two.txt")
    # A second process (a new backend) finds the folder instead of making another.
    three = MegaStorage(mega_account(settings), retry=FAST_RETRY).store(
        spool(tmp_path, b"3"), "three.txt"
    )

    (folder,) = folders(megasim)
    root = next(node for node in megasim.state()["nodes"] if node["t"] == 2)
    assert folder["p"] == root["h"]
    parents = {n["h"]: n["p"] for n in megasim.state()["nodes"]}
    assert {parents[one.key], parents[two.key], parents[three.key]} == {folder["h"]}


def test_folder_is_found_by_name_among_root_children(
    megasim: MegaSim, stock: Mega, tmp_path: Path
) -> None:
    existing = stock.create_folder("Paimon")["Paimon"]
    stock.create_folder("Elsewhere")
    stored = MegaStorage(mega_account(mega_settings(megasim)), retry=FAST_RETRY).store(
        spool(tmp_path, b"x"), "x.txt"
    )
    assert len(folders(megasim)) == 2
    assert stock.get_files()[stored.key]["p"] == existing


def test_progress_is_monotone_and_ends_at_the_size(megasim: MegaSim, tmp_path: Path) -> None:
    size = 5 * MIB + 3
    backend = MegaStorage(
        mega_account(mega_settings(megasim)), retry=FAST_RETRY, max_post_bytes=MIB
    )
    reports: list[int] = []
    backend.store(spool(tmp_path, os.urandom(size)), "p.bin", reports.append)
    assert len(reports) > 3
    assert reports == sorted(set(reports))
    assert reports[-1] == size


def test_progress_for_an_empty_file(backend: MegaStorage, tmp_path: Path) -> None:
    reports: list[int] = []
    backend.store(spool(tmp_path, b""), "empty", reports.append)
    assert reports == [0]


def test_throttled_upload_reports_progress_as_mega_acknowledges(
    megasim: MegaSim, tmp_path: Path
) -> None:
    backend = MegaStorage(
        mega_account(mega_settings(megasim)), retry=FAST_RETRY, max_post_bytes=MIB
    )
    backend.check()
    megasim.throttle(8 * MIB)
    seen: list[tuple[float, int]] = []
    started = time.monotonic()
    backend.store(
        spool(tmp_path, os.urandom(3 * MIB)),
        "slow.bin",
        lambda n: seen.append((time.monotonic() - started, n)),
    )
    assert [n for _, n in seen] == sorted(n for _, n in seen)
    assert seen[-1][1] == 3 * MIB
    assert seen[0][0] < seen[-1][0] - 0.1  # reports arrive over time, not all at the end


def test_threads_share_one_login(megasim: MegaSim, backend: MegaStorage, tmp_path: Path) -> None:
    sessions_before = megasim.state()["sessions"]
    payloads = {f"t{i}.bin": os.urandom(200_000 + i) for i in range(6)}
    links: dict[str, str] = {}

    def upload(name: str) -> None:
        links[name] = backend.store(spool(tmp_path, payloads[name], name), name).link

    threads = [threading.Thread(target=upload, args=(name,)) for name in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert megasim.state()["sessions"] == sessions_before + 1
    for name, payload in payloads.items():
        assert download(megasim, links[name]) == payload


def test_constructing_the_backend_does_not_log_in(megasim: MegaSim) -> None:
    sessions = megasim.state()["sessions"]
    MegaStorage(mega_account(mega_settings(megasim)))
    assert megasim.state()["sessions"] == sessions


def test_usage_reports_used_and_total(backend: MegaStorage, tmp_path: Path) -> None:
    before = backend.usage()
    backend.store(spool(tmp_path, os.urandom(1000)), "u.bin")
    after = backend.usage()
    assert after.used_bytes == before.used_bytes + 1000
    assert after.total_bytes is not None
    assert after.total_bytes > after.used_bytes


def test_an_empty_upload_carries_the_sdks_meta_mac(
    backend: MegaStorage, megasim: MegaSim, tmp_path: Path
) -> None:
    stored = backend.store(spool(tmp_path, b""), "empty.bin")
    _, key = parse_link(stored.link)
    assert tuple(key[6:8]) == (0, 0)  # chunkmac_map::macsmac of no chunks
    assert download(megasim, stored.link) == b""
