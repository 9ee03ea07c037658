"""Every shell example of README.md and docs/api.md, read from the Markdown at test
time and run by bash exactly as written, but for its placeholders.

The test fills those in: input files (holiday.jpg, x, big.iso, the docs folder tar
reads) are created in the example's own empty directory; ``<id>`` and ``q3V...`` are
a real job's id (``/tus/q3V...`` a fresh tus upload's); ``3q2-...`` is the key of a
real local upload; TOKEN is a configured token, ADMIN_TOKEN an owner's; 127.0.0.1:8000
is the test server. An example with TOKEN (or ADMIN_TOKEN) runs against a server with
PAIMON_AUTH_TOKENS and PAIMON_ADMIN_TOKENS, one with
``?service=mega`` against a server on the MEGA emulator (those two run this working
tree, tests/support/servers.start_server); every other one against the README's serve
command in a fresh clone of the committed HEAD (tests/deploy/newcomer/conftest.py).

Each example must exit 0 and print no error; where the doc shows output after it
(JSON, a status line, a link), the real output must have its shape; a link printed is
downloaded and compared with the file sent, a file downloaded with the file linked.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.support.known_secrets import ADMIN_TOKEN, TOKEN
from tests.support.newcomer import (
    DOCS,
    Example,
    ServerFor,
    curl_environ,
    json_or_none,
    shell_examples,
)
from tests.support.servers import ServerProcess

# Commands the layer cannot run as examples, each with why. Keep it short.
NOT_RUN = {
    "scripts/serve": "starts the server the other examples run against "
    "(tests/support/newcomer.serve runs it exactly as written)",
    "scripts/test": "the whole suite on three Pythons: run from inside the suite, it recurses",
    ".venv/bin/paimon doctor": "runs in the clone scripts/serve built, not in an example's "
    "empty directory (tests/deploy/newcomer/test_newcomer_second_contact.py runs it as written)",
}
EXAMPLES = [example for doc in DOCS for example in shell_examples(doc)]
DOC_HOST = "127.0.0.1:8000"
LOCAL_KEY = re.compile(r"3q2-[\w.-]*")
TUS_ID = re.compile(r"/tus/q3V\.\.\.")
JOB_ID = re.compile(r"q3V\.\.\.|<id>")
# Where a value shown in the doc stops being literal.
PLACEHOLDER = re.compile(rf"{LOCAL_KEY.pattern}|{JOB_ID.pattern}")
INPUT_FILE = re.compile(r"""file=@([^\s'";]+)|-T\s+([^\s'"-][^\s'"]*)""")
INPUT_FOLDER = re.compile(r"\btar c\w*\s+([^\s|]+)")
BIG = "big.iso"  # "big files: answer at once (202)": a few MB, not 64 KiB
STATUS_LINE = re.compile(r"^HTTP/[\d.]+ (\d{3})", re.MULTILINE)


@dataclass
class Scene:
    """What one example runs with: its server, its directory, its placeholders' values."""

    server: ServerProcess
    workdir: Path
    inputs: dict[str, bytes] = field(default_factory=dict)
    linked: tuple[str, bytes] | None = None  # the file behind the local key: name, bytes

    @property
    def auth(self) -> dict[str, str]:
        return (
            {"Authorization": f"Bearer {TOKEN}"} if "PAIMON_AUTH_TOKENS" in self.server.env else {}
        )

    def host(self, text: str) -> str:
        return text.replace(DOC_HOST, self.server.url.removeprefix("http://"))

    def fill(self, command: str) -> str:
        """``command`` with its placeholders replaced and its input files created."""
        for match in INPUT_FILE.finditer(command):
            name = match.group(1) or match.group(2)
            content = os.urandom(4 * 1024 * 1024 if name == BIG else 64 * 1024)
            (self.workdir / name).write_bytes(content)
            self.inputs[name] = content
        for match in INPUT_FOLDER.finditer(command):
            (self.workdir / match.group(1)).mkdir()
            (self.workdir / match.group(1) / "notes.txt").write_text("a file in a folder\n")
        command = LOCAL_KEY.sub(lambda _: self.local_key(), command)
        command = TUS_ID.sub(lambda _: f"/tus/{self.tus_upload()}", command)
        command = JOB_ID.sub(lambda _: self.job_id(), command)
        return self.host(command).replace("ADMIN_TOKEN", ADMIN_TOKEN).replace("TOKEN", TOKEN)

    def local_key(self) -> str:
        """The key of a file uploaded now (4 KiB, so ranges of the docs fit in it)."""
        content = os.urandom(4096)
        reply = self.post({"file": ("download-me.bin", content)})
        self.linked = ("download-me.bin", content)
        return reply["link"].rsplit("/", 1)[1]

    def job_id(self) -> str:
        return self.post({"file": ("job.bin", b"a job")}, {"Prefer": "respond-async"})["id"]

    def tus_upload(self) -> str:
        """A new tus upload of 11 bytes (the docs' ``hello world``), nothing sent yet."""
        headers = {"Tus-Resumable": "1.0.0", "Upload-Length": "11"} | self.auth
        reply = requests.post(f"{self.server.url}/tus/", headers=headers, timeout=30)
        assert reply.status_code == 201, reply.text
        return reply.headers["Location"].rstrip("/").rsplit("/", 1)[1]

    def post(self, files: dict, headers: dict[str, str] | None = None) -> dict:
        reply = requests.post(
            f"{self.server.url}/upload",
            files=files,
            headers=self.auth | (headers or {}),
            timeout=60,
        )
        assert reply.status_code in (200, 202), reply.text
        return reply.json()


def run(command: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=workdir,
        env=curl_environ(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def split_reply(stdout: str) -> tuple[str, str]:
    """(headers, body) of what ``curl -i`` printed; no headers without ``-i``."""
    head, body = "", stdout.replace("\r\n", "\n")
    # An interim reply (100 Continue, to curl's Expect) comes before the real one.
    while body.startswith("HTTP/") and (not head or head.split()[1].startswith("1")):
        head, _, body = body.partition("\n\n")
    return head, body


def check_shown_output(example: Example, scene: Scene, head: str, body: str) -> None:
    """The real output has the shape of what the doc shows after the command."""
    shown = example.output
    if not shown:
        return
    if shown[0].startswith("{"):
        expected = json_or_none(" ".join(shown))
        assert isinstance(expected, dict), f"the doc's JSON does not parse: {shown}"
        reply = json_or_none(body)
        assert isinstance(reply, dict), "not the JSON the doc shows"
        assert expected.keys() <= reply.keys(), f"missing {expected.keys() - reply.keys()}"
        assert reply["status"] == expected["status"]
    elif shown[0].startswith("HTTP/"):
        assert STATUS_LINE.findall(head)[:1] == STATUS_LINE.findall(shown[0]), "another status"
        for name, value in re.findall(r"\b([A-Z][\w-]*): (\S+)", " ".join(shown)):
            prefix = scene.host(PLACEHOLDER.split(value)[0])
            pattern = rf"^{name}: {re.escape(prefix)}"
            assert re.search(pattern, head, re.MULTILINE | re.IGNORECASE), f"no {name}: {prefix}"
    else:
        prefix = scene.host(PLACEHOLDER.split(shown[0])[0])
        lines = body.splitlines()
        assert len(lines) == 1 and lines[0].startswith(prefix), f"not one line {prefix}..."


def check_links(scene: Scene, body: str) -> None:
    """Each local link the example printed downloads back the one file it sent."""
    reply = json_or_none(body)
    links = [reply["link"]] if isinstance(reply, dict) and reply.get("link") else body.split()
    links = [link for link in links if link.startswith(f"{scene.server.url}/files/")]
    if links and len(scene.inputs) == 1:
        (sent,) = scene.inputs.values()
        for link in links:
            assert requests.get(link, timeout=60).content == sent, f"{link} is not what was sent"


def check_downloads(example: Example, scene: Scene, written: list[Path]) -> None:
    """A file the example wrote is the linked file (the range of it ``-r`` asks for),
    under its original name when ``-J`` names it from Content-Disposition."""
    if not written:
        return
    if scene.linked is None:  # not an uploaded file: a file the server itself offers
        check_served_files(example, scene, written)
        return
    name, content = scene.linked
    if span := re.search(r"-r (\d+)-(\d+)", example.command):
        content = content[int(span.group(1)) : int(span.group(2)) + 1]
    for path in written:
        assert path.read_bytes() == content, f"{path.name} is not the linked file"
        if re.search(r"\s-\w*J", example.command):
            assert path.name == name, f"{path.name} is not named {name}"


def check_served_files(example: Example, scene: Scene, written: list[Path]) -> None:
    """Each file written is what the server answers for the URL the example fetched,
    under the name its Content-Disposition gives."""
    (url,) = re.findall(r"https?://\S+", scene.host(example.command))
    reply = requests.get(url.strip("'\""), timeout=30)
    assert reply.status_code == 200, f"{url}: {reply.status_code}"
    for path in written:
        assert path.read_bytes() == reply.content, f"{path.name} is not what {url} serves"
        assert f'filename="{path.name}"' in reply.headers.get("Content-Disposition", "")


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.where for e in EXAMPLES])
def test_doc_example(example: Example, server_for: ServerFor, tmp_path: Path) -> None:
    if example.command in NOT_RUN:
        pytest.skip(NOT_RUN[example.command])
    mega = "service=mega" in example.command
    scene = Scene(server_for("TOKEN" in example.command, mega), tmp_path)
    command = scene.fill(example.command)
    before = set(tmp_path.iterdir())
    try:
        result = run(command, tmp_path)
    except subprocess.TimeoutExpired as timeout:
        pytest.fail(f"{example.where}: {example.command}\n$ {command}\n{timeout}", pytrace=False)
    written = sorted(set(tmp_path.iterdir()) - before)
    head, body = split_reply(result.stdout)
    report = (
        f"{example.where}: {example.command}\n$ {command}\nexit {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    try:
        assert result.returncode == 0, "exit status not 0"
        assert written or result.stdout.strip(), "printed nothing and wrote nothing"
        assert all(int(code) < 400 for code in STATUS_LINE.findall(head)), "an HTTP error"
        reply = json_or_none(body)
        assert not (isinstance(reply, dict) and reply.get("status") == "error"), "an error"
        if mega:
            assert isinstance(reply, dict) and reply.get("service") == "mega", "not in MEGA"
        check_shown_output(example, scene, head, body)
        check_links(scene, body)
        check_downloads(example, scene, written)
    except AssertionError as failure:
        problem = str(failure)
    else:
        return
    pytest.fail(f"{problem}\n{report}", pytrace=False)
