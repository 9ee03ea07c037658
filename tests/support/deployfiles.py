"""Reading this repository's deployment files as their tools do: the Dockerfile's
instructions (tests/deploy checks them and runs them without Docker)."""

from __future__ import annotations

import re

from paimon_devtools.servers import REPO_ROOT


def dockerfile_instructions() -> list[tuple[str, str]]:
    """Each instruction as (OPERATION, argument), continuation lines joined, comments
    left out."""
    text = (REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [
        (m[1].upper(), m[2].strip())
        for m in re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", text, re.M)
        if not m[0].lstrip().startswith("#")
    ]
