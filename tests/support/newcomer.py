"""The newcomer layer's helpers: shell examples read from the Markdown, the README's serve
command run in a fresh clone, and the environment curl runs in."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.support.known_secrets import SERVER_LOGS
from tests.support.servers import REPO_ROOT, ServerProcess, await_healthy, clean_environ, free_port

# The documents whose every shell example the layer runs.
DOCS = (REPO_ROOT / "README.md", REPO_ROOT / "docs" / "api.md")
FENCE = re.compile(r"^```(sh|bash|console)\s*$")
# A comment right after a command is what the command prints when it starts like output:
# JSON, a status line, a link. Any other comment describes the command below it.
OUTPUT_COMMENT = re.compile(r"^#\s*(\{|HTTP/|https?://)")
# The first build installs the whole lock: minutes on a slow machine.
BUILD_TIMEOUT_SECONDS = 300
# (tokens configured, MEGA configured) -> a server; (False, False) is the fresh clone.
ServerFor = Callable[[bool, bool], ServerProcess]


@dataclass(frozen=True)
class Example:
    """One command of a shell block, as the doc writes it."""

    doc: Path
    line: int  # 1-based line of the command's first line
    section: str  # the heading above it
    command: str  # backslash continuations joined, trailing comment removed
    comment: str  # the trailing comment, if any
    output: tuple[str, ...]  # the output the doc shows after it, "# " removed

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(REPO_ROOT)}:{self.line}"


def split_comment(line: str) -> tuple[str, str]:
    """``line`` cut at its first ``#`` outside quotes that starts a word: (code, comment)."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip(), line[index + 1 :].strip()
    return line.rstrip(), ""


def shell_examples(doc: Path) -> list[Example]:
    """Every command of every ```sh, ```bash and ```console block of ``doc``."""
    examples: list[Example] = []
    lines = doc.read_text().splitlines()
    section, language, index = "", "", 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not language:
            if line.startswith("#"):
                section = line.lstrip("#").strip()
            elif match := FENCE.match(line):
                language = match.group(1)
            continue
        if line.startswith("```"):
            language = ""
            continue
        text = line.strip()
        if language == "console":
            if not text.startswith("$ "):
                continue  # output
            text = text[2:]
        if not text or text.startswith("#"):
            continue
        start = index
        while text.endswith("\\") and index < len(lines):
            text = text[:-1] + " " + lines[index].strip()
            index += 1
        command, comment = split_comment(text)
        output: list[str] = []
        if index < len(lines) and OUTPUT_COMMENT.match(lines[index].strip()):
            while index < len(lines) and lines[index].strip().startswith("#"):
                output.append(lines[index].strip()[1:].strip())
                index += 1
        examples.append(Example(doc, start, section, command, comment, tuple(output)))
    return examples


def readme_serve_command() -> str:
    """The serve command of the README's "Two commands" block, as written there."""
    (example,) = [
        e
        for e in shell_examples(REPO_ROOT / "README.md")
        if e.section == "Two commands" and "serve" in e.command
    ]
    return example.command


def curl_environ() -> dict[str, str]:
    """The environment doc examples and curl run in: no Paimon setting, no proxy (every
    request goes to 127.0.0.1)."""
    return {k: v for k, v in clean_environ().items() if "proxy" not in k.lower()}


def clone_repository(workdir: Path) -> Path:
    """A ``git clone`` of the repository under test in ``workdir``: its committed HEAD."""
    clone = workdir / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", str(REPO_ROOT), str(clone)],
        check=True,
        capture_output=True,
        env=curl_environ(),
    )
    return clone


def serve(clone: Path, log_dir: Path) -> ServerProcess:
    """The README's serve command run in ``clone`` with no PAIMON_* setting but the
    port; waits until it answers (the first run builds .venv).

    PYTHON, which scripts/serve documents for choosing the interpreter, is the one
    running the tests, so the layer checks each Python the suite runs on.
    """
    port = free_port()
    env = curl_environ() | {"PAIMON_PORT": str(port), "PYTHON": sys.executable}
    log_path = log_dir / f"serve-{port}.log"
    SERVER_LOGS.append(log_path)  # searched for secrets at the end of the run
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["bash", "-c", readme_serve_command()],
            cwd=clone,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", process, log_path, clone / "data", env)
    return await_healthy(server, timeout=BUILD_TIMEOUT_SECONDS)


def curl(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Real curl, quiet, failing (with what it said) on an HTTP error status."""
    result = subprocess.run(
        ["curl", "--silent", "--show-error", "--fail-with-body", *args],
        cwd=cwd,
        env=curl_environ(),
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, f"curl {' '.join(args)}: {result.stderr!r} {result.stdout!r}"
    return result


def json_or_none(text: str) -> object:
    """``text`` parsed as JSON, or None when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return None
