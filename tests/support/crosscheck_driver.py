"""Drive async-mega-py, an independent MEGA client, against the emulator: JSON in, JSON out.

Run by tests/megasim/test_megasim_independent_client.py with the interpreter of the
crosscheck venv (``PAIMON_TEST_CROSSCHECK_PYTHON``, built by scripts/test from
requirements-crosscheck.txt), never with Paimon's: async-mega-py's top-level package is
``mega``, like mega.py's, so the two cannot share a venv. That is also why this file
imports nothing from Paimon or the tests and is run with ``python -I``.

stdin: ``{"api": "<emulator>/cs", "steps": [{"op": ..., ...}, ...]}``, run in order by
one client (so one login serves the later steps). stdout: ``{"client": "async-mega-py
<version>", "results": [...], "error": null}``; a step that raises ends the run with
``"error": {"step": i, "type": ..., "message": ..., "code": <MEGA code or null>}`` and
exit status 1. Steps:

- ``login`` ``{email, password}``: log in (solving any hashcash challenge on the way)
  and fetch the file system; the account's email and the root's handle.
- ``upload`` ``{path}``: upload a local file into the root, then export it; the node's
  handle, name, size and public link.
- ``download_url`` ``{url, dir}``: download a public link into ``dir``; the client
  decrypts and checks the meta-MAC, and raises on a mismatch. The file's path.
- ``download`` ``{handle, dir}``: the same for a node of the logged-in account.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import sys
from typing import Any

import yarl
from mega.api import MegaAPI
from mega.client import MegaNzClient

DISTRIBUTION = "async-mega-py"


async def login(client: MegaNzClient, step: dict[str, Any]) -> dict[str, Any]:
    await client.login(step["email"], step["password"])
    user = await client.get_user()
    filesystem = await client.get_filesystem()
    return {"email": user["email"], "root": filesystem.root.id}


async def upload(client: MegaNzClient, step: dict[str, Any]) -> dict[str, Any]:
    node = await client.upload(step["path"])
    link = await client.export(node)
    return {"handle": node.id, "name": node.attributes.name, "size": node.size, "link": link}


async def download_url(client: MegaNzClient, step: dict[str, Any]) -> dict[str, Any]:
    results = await client.download_url(step["url"], step["dir"])
    for failure in results.fails.values():
        raise failure
    (path,) = results.success.values()
    return {"path": str(path)}


async def download(client: MegaNzClient, step: dict[str, Any]) -> dict[str, Any]:
    filesystem = await client.get_filesystem(force=True)
    path = await client.download(filesystem[step["handle"]], step["dir"])
    return {"path": str(path)}


OPERATIONS = {"login": login, "upload": upload, "download_url": download_url, "download": download}


async def run(request: dict[str, Any]) -> dict[str, Any]:
    """Run the steps with one client pointed at the emulator; stop at the first error."""
    # The documented way to aim async-mega-py elsewhere: its API URL is this class
    # attribute. Upload and download URLs come from the emulator's own replies.
    MegaAPI._entrypoint = yarl.URL(request["api"])
    version = importlib.metadata.version(DISTRIBUTION)
    reply: dict[str, Any] = {"client": f"{DISTRIBUTION} {version}", "results": [], "error": None}
    async with MegaNzClient() as client:
        for index, step in enumerate(request["steps"]):
            try:
                reply["results"].append(await OPERATIONS[step["op"]](client, step))
            except Exception as exc:  # reported to the test, which decides
                code = getattr(exc, "code", None)
                reply["error"] = {
                    "step": index,
                    "type": type(exc).__name__,
                    "message": str(exc),
                    "code": code if isinstance(code, int) else None,
                }
                break
    return reply


def main() -> int:
    reply = asyncio.run(run(json.load(sys.stdin)))
    json.dump(reply, sys.stdout)
    return 0 if reply["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
