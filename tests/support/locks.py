"""Reading the uv-generated locks (requirements*.txt) of this repository."""

from __future__ import annotations

import re

from paimon_devtools.servers import REPO_ROOT


def parse_entries(name: str) -> list[tuple[str, str, str, list[str]]]:
    """(package, version, marker, hashes) for every requirement in a uv-generated lock.

    A universal lock may list a package more than once, under different markers
    (e.g. one version for Python < 3.12 and another for 3.12+).
    """
    text = (REPO_ROOT / name).read_text()
    entries = []
    for block in re.split(r"\n(?=[a-z0-9])", text):
        block = "\n".join(line for line in block.splitlines() if not line.lstrip().startswith("#"))
        match = re.match(r"([a-z0-9][a-z0-9._-]*)==([^\s;\\]+)(?: ; ([^\\]+))?", block)
        if match:
            hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
            entries.append((match[1], match[2], (match[3] or "").strip(), hashes))
    return entries


def parse_lock(name: str) -> dict[str, tuple[str, list[str]]]:
    """{package: (version, [hashes])} for packages the lock pins once."""
    return {pkg: (version, hashes) for pkg, version, _marker, hashes in parse_entries(name)}
