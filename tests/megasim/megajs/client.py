"""A megajs client in a Node process: ``driver.mjs``, one step per JSON line.

A module of its own, not conftest.py: pytest imports a conftest under a second name, and
the tests must catch the very :class:`MegaJsError` the client raises.
"""

from __future__ import annotations

import json
import select
import subprocess
from pathlib import Path
from typing import Any

import pytest

from paimon_devtools.servers import clean_environ

FOLDER = Path(__file__).resolve().parent
DRIVER = FOLDER / "driver.mjs"
INSTALLED = FOLDER / "node_modules" / "megajs" / "package.json"
LOCKED_VERSION = json.loads((FOLDER / "package-lock.json").read_text())["packages"][
    "node_modules/megajs"
]["version"]
STEP_TIMEOUT_SECONDS = 300
EXIT_TIMEOUT_SECONDS = 30


class MegaJsError(Exception):
    """A step megajs failed; the message is megajs's own (e.g. ``ENOENT (-9): ...``)."""


class MegaJs:
    """One driver process: :meth:`step` sends a step and returns its result."""

    def __init__(self, node: str, log_path: Path):
        self.log_path = log_path
        with log_path.open("w") as log:
            self.process = subprocess.Popen(
                [node, str(DRIVER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=clean_environ(),
            )

    def step(self, op: str, timeout: float = STEP_TIMEOUT_SECONDS, **fields: Any) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.process.kill()
            pytest.fail(f"megajs gave no answer to {op}:\n{self.log_path.read_text()}")
        answer = json.loads(line)
        if "error" in answer:
            raise MegaJsError(answer["error"]["message"])
        return answer["result"]

    def close(self) -> int:
        """End of steps: megajs logs out (``sml``) and the driver exits; its status."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            return self.process.wait(timeout=EXIT_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return -9
        finally:
            if self.process.stdout is not None:
                self.process.stdout.close()
