"""The command line: arguments, the listening line, clean exits on signals."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.support.megasim import MegaSim, run_megasim, stock_mega_client


def test_accounts_quota_and_sigterm(tmp_path: Path) -> None:
    stale_blob = tmp_path / "megasim-blobs" / "left-over.blob"
    stale_blob.parent.mkdir()
    stale_blob.write_bytes(b"from an earlier run")
    password = "pa:ss:word"  # the value is split on its first colon only
    sim = MegaSim.start(
        tmp_path, accounts={"Colon@Example.com": password}, v1_accounts={}, quota_bytes=5000
    )
    try:
        assert sim.url.startswith("http://127.0.0.1:")
        client = stock_mega_client(sim.url).login("colon@example.com", password)
        assert client.get_storage_space() == {"used": 0, "total": 5000}
        assert not stale_blob.exists()
    finally:
        assert sim.stop() == 0
    log = sim.log()
    assert "colon@example.com (v2 login)" in log
    assert password not in log


def test_sigint_exits_cleanly(tmp_path: Path) -> None:
    sim = MegaSim.start(tmp_path, accounts={}, v1_accounts={})
    sim.process.send_signal(signal.SIGINT)
    assert sim.process.wait(timeout=10) == 0
    sim.stop()


def test_malformed_account_is_refused_without_echoing_it() -> None:
    result = run_megasim("--account", "no-colon-secret")
    assert result.returncode == 2
    assert "EMAIL:PASSWORD" in result.stderr
    assert "no-colon-secret" not in result.stderr + result.stdout


def test_duplicate_account_is_refused() -> None:
    result = run_megasim("--account", "a@example.com:x", "--v1-account", "A@example.com:y")
    assert result.returncode == 2
    assert "only once" in result.stderr
