"""What a newcomer trips over: settings that look right but are not, and a disk that
fills up while a body arrives. Each gets one clear answer, and nothing is left behind."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from paimon.config import Settings, SettingsError, load_settings, unknown_variables
from tests.support.doctor import by_name, run_doctor
from tests.support.rawhttp import BOUNDARY, END, file_part
from tests.support.servers import (
    ServerProcess,
    eventually,
    start_refused,
    start_server,
)
from tests.support.uploads import MIB, TUS


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("PAIMON_REDIS_URL", "notaurl", "redis://, rediss://, unix://"),
        ("PAIMON_PUBLIC_URL", "files.example.com", "http:// or https://"),
        ("PAIMON_MAX_UPLOAD_BYTES", "5 potatoes", "byte unit"),
    ],
)
def test_a_bad_value_stops_the_server_and_fails_doctor_in_one_line(
    tmp_path: Path, name: str, value: str, says: str
) -> None:
    result = start_refused(tmp_path, **{name: value})
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("paimon:")]
    assert lines == [lines[0]] and lines[0].startswith(f"paimon: bad setting {name}: ")
    assert says in lines[0]
    assert "Traceback" not in result.stderr
    assert value not in result.stderr  # a value may be a secret (a Redis password)

    code, report = run_doctor(sys.executable, tmp_path, **{name: value})
    assert code == 1
    assert by_name(report)["settings"]["ok"] is False
    assert says in by_name(report)["settings"]["detail"]


def test_a_public_url_with_a_scheme_is_kept_without_its_slash() -> None:
    assert load_settings(public_url="https://files.example.com/").public_url == (
        "https://files.example.com"
    )
    with pytest.raises(SettingsError):
        load_settings(public_url="ftp://files.example.com")


@pytest.mark.parametrize(
    ("given", "expected"),
    [("5GB", 5 * 10**9), ("512MiB", 512 * MIB), ("1 KiB", 1024), ("1048576", MIB)],
)
def test_sizes_accept_units(given: str, expected: int) -> None:
    settings = Settings(max_upload_bytes=given, min_free_bytes=given)
    assert settings.max_upload_bytes == expected
    assert settings.min_free_bytes == expected


def test_a_size_with_a_unit_is_enforced_by_the_server(server_factory) -> None:
    server = server_factory(max_upload_bytes="1KiB")
    small = requests.put(f"{server.url}/upload/a.bin", data=b"x" * 1000, timeout=10)
    assert small.status_code == 200, small.text
    large = requests.put(f"{server.url}/upload/b.bin", data=b"x" * 1100, timeout=10)
    assert large.status_code == 413
    assert "1,024 bytes" in large.json()["message"]


def test_a_mistyped_setting_names_the_real_one_at_start_and_in_doctor(server_factory) -> None:
    lines = unknown_variables({"PAIMON_MAX_UPLOAD_BYTS": "1", "PAIMON_PORT": "1"})
    assert lines == [
        "PAIMON_MAX_UPLOAD_BYTS is not a setting; did you mean PAIMON_MAX_UPLOAD_BYTES? "
        "(docs/configuration.md lists them)"
    ]
    # The build, test and live-test scripts' own names are not settings, and not typos.
    assert unknown_variables({"PAIMON_TEST_PYTHONS": "3.12.1"}) == []

    server = server_factory(max_upload_byts="10")
    assert eventually(lambda: "did you mean PAIMON_MAX_UPLOAD_BYTES?" in server.logs(), 10)
    assert server.logs().count("PAIMON_MAX_UPLOAD_BYTS is not a setting") == 1  # not per worker

    code, report = run_doctor(sys.executable, server.log_path.parent, PAIMON_MAX_UPLOAD_BYTS="10")
    assert code == 0  # a warning: the server still runs on its defaults
    (names,) = [check for check in report["checks"] if check["name"] == "names"]
    assert names["warning"] is True
    assert "did you mean PAIMON_MAX_UPLOAD_BYTES?" in names["detail"]


def test_doctor_downloads_a_file_from_a_relative_data_dir(tmp_path: Path) -> None:
    """The newcomer's case: the default data dir `data`, relative to the start folder."""
    code, report = run_doctor(sys.executable, tmp_path)
    assert code == 0, report
    downloads = by_name(report)["downloads"]
    assert downloads["ok"] is True
    assert str(tmp_path / "data" / "files") in downloads["detail"]
    assert list((tmp_path / "data" / "files").iterdir()) == []  # the probe is gone


@pytest.fixture
def small_disk(tmpfs: Callable[[int], Path]) -> Path:
    """An 8 MiB disk that fills up for real."""
    return tmpfs(8)


@pytest.fixture
def full_disk_server(small_disk: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    with start_server(tmp_path, data_dir=str(small_disk / "data")) as server:
        yield server


def chunks(total: int, size: int = 256 * 1024) -> Iterator[bytes]:
    for start in range(0, total, size):
        yield b"z" * min(size, total - start)


def spool_sizes(server: ServerProcess) -> list[int]:
    spool = Path(server.env["PAIMON_DATA_DIR"]) / "spool"
    return [p.stat().st_size for p in spool.glob("up-*")]


def assert_refused_as_full(reply: requests.Response) -> None:
    assert reply.status_code == 507, reply.text
    body = reply.json()
    assert body["error"] == "server_full"
    assert "disk filled up" in body["message"]
    assert "Retry-After" not in reply.headers or reply.status_code in (429, 503)


def test_a_chunked_put_that_fills_the_disk_answers_507(full_disk_server: ServerProcess) -> None:
    reply = requests.put(
        f"{full_disk_server.url}/upload/big.bin", data=chunks(12 * MIB), timeout=60
    )
    assert_refused_as_full(reply)
    assert spool_sizes(full_disk_server) == []
    after = requests.put(f"{full_disk_server.url}/upload/small.bin", data=b"ok", timeout=10)
    assert after.status_code == 200, "the disk has room again once the partial file went"


def test_a_chunked_multipart_upload_that_fills_the_disk_answers_507(
    full_disk_server: ServerProcess,
) -> None:
    def body() -> Iterator[bytes]:
        yield file_part(b"big.bin", b"")[: -len(b"\r\n")]  # the part's head, no content
        yield from chunks(12 * MIB)
        yield b"\r\n" + END

    reply = requests.post(
        f"{full_disk_server.url}/upload",
        data=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY.decode()}"},
        timeout=60,
    )
    assert_refused_as_full(reply)
    assert eventually(lambda: spool_sizes(full_disk_server) == [], 10)


def test_a_tus_patch_that_fills_the_disk_answers_507_and_can_resume(
    full_disk_server: ServerProcess, small_disk: Path
) -> None:
    offset_type = {"Content-Type": "application/offset+octet-stream"}
    created = requests.post(
        f"{full_disk_server.url}/tus/", headers={**TUS, "Upload-Length": str(6 * MIB)}, timeout=10
    )
    assert created.status_code == 201, created.text
    url = created.headers["Location"]
    first = requests.patch(
        url, data=b"a" * MIB, headers={**TUS, **offset_type, "Upload-Offset": "0"}, timeout=30
    )
    assert first.status_code == 204, first.text
    filler = small_disk / "filler"  # something else takes the disk meanwhile
    filler.write_bytes(b"f" * (4 * MIB))
    rest = {**TUS, **offset_type, "Upload-Offset": str(MIB)}
    reply = requests.patch(url, data=chunks(5 * MIB), headers=rest, timeout=60)
    assert_refused_as_full(reply)
    # What earlier PATCHes sent is kept; the failed one left nothing behind it.
    head = requests.head(url, headers=TUS, timeout=10)
    assert head.headers["Upload-Offset"] == str(MIB)
    assert spool_sizes(full_disk_server) == [MIB]

    filler.unlink()
    resumed = requests.patch(url, data=chunks(5 * MIB), headers=rest, timeout=60)
    assert resumed.status_code == 204, resumed.text
    assert resumed.headers["Upload-Offset"] == str(6 * MIB)
