"""Second contact (issue 26, point 4): the README's doctor command and docs/api.md's
shell function, each run as the doc writes it, against the fresh clone and the server
its README command started."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import requests

from tests.support.newcomer import curl_environ, shell_examples
from tests.support.servers import REPO_ROOT, ServerProcess

DOC_HOST = "127.0.0.1:8000"


def test_the_readme_doctor_command_works_after_serve(
    fresh_clone: Path, fresh_server: ServerProcess
) -> None:
    """As written, in the clone scripts/serve built: no PATH set up beforehand."""
    (example,) = [e for e in shell_examples(REPO_ROOT / "README.md") if "doctor" in e.command]
    result = subprocess.run(
        ["bash", "-c", example.command],
        cwd=fresh_clone,
        env=curl_environ(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   jobs      sqlite job store answers" in result.stdout
    assert result.stdout.strip().endswith("paimon doctor: all checks passed")


def test_the_shell_function_prints_the_delete_link_before_it_returns(
    fresh_server: ServerProcess, tmp_path: Path
) -> None:
    """Nothing left running after the prompt comes back: the delete link is written
    before the function returns, even when every other program on the PATH is slow
    (a grep that takes half a second would print it after the prompt)."""
    (example,) = [
        e for e in shell_examples(REPO_ROOT / "docs" / "api.md") if e.command.startswith("paimon()")
    ]
    slow = tmp_path / "slow-bin"
    slow.mkdir()
    for tool in ("grep", "sed", "awk", "tee", "cat"):
        (slow / tool).write_text(f'#!/bin/sh\nsleep 0.5\nexec /usr/bin/{tool} "$@"\n')
        (slow / tool).chmod(0o755)
    env = curl_environ()
    env["PATH"] = f"{slow}:{env['PATH']}"
    command = example.command.replace(DOC_HOST, fresh_server.url.removeprefix("http://"))
    result = subprocess.run(
        ["bash", "-c", f"{command}; echo prompt-is-back >&2"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    (link,) = result.stdout.split()
    assert link.startswith(f"{fresh_server.url}/files/")
    lines = result.stderr.splitlines()
    assert lines[-1] == "prompt-is-back", lines
    (delete,) = re.findall(r"^delete: (http\S+)$", "\n".join(lines[:-1]), re.M)
    assert requests.delete(delete, timeout=30).status_code == 200
    assert requests.get(link, timeout=30).status_code == 404
