"""Reading a test server's log: every line it wrote, parsed as the JSON it must be."""

from __future__ import annotations

import json

from paimon_devtools.servers import ServerProcess


def log_records(server: ServerProcess) -> list[dict]:
    """Every line the server wrote, parsed: any line that is not JSON fails the test.
    A last line still being written is left for the next read."""
    text = server.logs()
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]


def request_records(server: ServerProcess) -> list[dict]:
    return [r for r in log_records(server) if r["logger"] == "paimon.request"]
