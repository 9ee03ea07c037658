"""The Docker image, proven without a Docker engine: its steps run here as `docker build`
and `docker run` run them, and the server must start as the image's user.

The build runs as root, as `docker build` does, with the Dockerfile's ENV, in a scratch
root standing for the image's filesystem: ``/app`` (the build context, copied as
``COPY . .`` copies it, .dockerignore applied), ``/opt/venv``, ``/data``, and the base
image's ``python`` (the interpreter running these tests, so CI builds one image per
supported Python). Then gunicorn starts as uid 10001 with a HOME it cannot write
(setpriv), and an upload goes in and comes back. The steps are written out below;
``test_the_dockerfile_is_these_steps`` fails when the Dockerfile says anything else,
so the two cannot drift apart.

A pyenv Python lives under /root, which uid 10001 cannot enter; a base image keeps
Python in /usr/local, which anyone may read. So the server starts in a mount namespace
of its own in which only the interpreter's directory is visible under /root
(``base_python_visible``): the one liberty taken with the image.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import pytest
import requests

from tests.support.deployfiles import dockerfile_instructions
from tests.support.known_secrets import SERVER_LOGS
from tests.support.servers import REPO_ROOT, ServerProcess, await_healthy, clean_environ, free_port

# The image, step by step, as the Dockerfile writes it (its ENV, WORKDIR, COPY, RUN,
# USER, VOLUME, HEALTHCHECK and CMD, in that order).
ENV = {
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
    "VIRTUAL_ENV": "/opt/venv",
    "PATH": "/opt/venv/bin:$PATH",
    "PAIMON_DATA_DIR": "/data",
}
WORKDIR = "/app"
COPY = ". ."
BUILD = (
    "python -m venv /opt/venv && PYTHON=/opt/venv/bin/python scripts/build "
    "&& mkdir -p /data && chown 10001:10001 /data"
)
USER = "10001:10001"
VOLUME = "/data"
HEALTHCHECK = [
    "python",
    "-c",
    "import os, urllib.request; port = os.environ.get('PAIMON_PORT') or "
    "os.environ.get('PORT') or '8000'; "
    "urllib.request.urlopen('http://127.0.0.1:%s/healthz' % port, timeout=4)",
]
CMD = ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]

UID = GID = 10001
# The base image's own environment (python:3.x-slim): its PATH, where `python` is.
BASE_PATH = "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BASE_ENV = {"LANG": "C.UTF-8"}
IMAGE_PATHS = re.compile(r"(?<![\w./-])(/opt/venv|/data|/app|/usr/local/bin)(?![\w.-])")
BUILD_TIMEOUT_SECONDS = 600


@dataclass
class Image:
    """The image's filesystem: ``root`` stands for ``/``."""

    root: Path
    build_output: str

    def path(self, image_path: str) -> Path:
        return Path(self.relocated(image_path))

    def relocated(self, text: str) -> str:
        """``text`` with the image's paths moved under ``root``."""
        return IMAGE_PATHS.sub(lambda m: f"{self.root}{m[1]}", text)

    def env(self) -> dict[str, str]:
        """The container's environment: the base image's, then the Dockerfile's ENV."""
        env = BASE_ENV | {"PATH": self.relocated(BASE_PATH)}
        for name, value in ENV.items():
            env[name] = self.relocated(value).replace("$PATH", env["PATH"])
        return env


def parsed(op: str, arg: str) -> object:
    """A Dockerfile instruction's argument in the shape the constants above have."""
    if op == "ENV":
        return dict(pair.split("=", 1) for pair in shlex.split(arg))
    if op == "RUN":
        return " ".join(arg.split())
    if op == "HEALTHCHECK":
        return json.loads(arg.split(" CMD ", 1)[1])
    if op in ("CMD", "VOLUME"):
        return json.loads(arg)
    return arg


def test_the_dockerfile_is_these_steps() -> None:
    """Edit the Dockerfile or this test's steps, not one without the other."""
    ops = ("ENV", "WORKDIR", "COPY", "RUN", "USER", "VOLUME", "HEALTHCHECK", "CMD")
    steps = [(op, parsed(op, arg)) for op, arg in dockerfile_instructions() if op in ops]
    assert steps == [
        ("ENV", ENV),
        ("WORKDIR", WORKDIR),
        ("COPY", COPY),
        ("RUN", BUILD),
        ("USER", USER),
        ("VOLUME", [VOLUME]),
        ("HEALTHCHECK", HEALTHCHECK),
        ("CMD", CMD),
    ]


def copy_build_context(destination: Path) -> None:
    """The repository's working tree as `COPY . .` sends it: .dockerignore applied."""
    patterns = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(directory: str, names: list[str]) -> set[str]:
        relative = Path(directory).relative_to(REPO_ROOT)
        return {
            name
            for name in names
            for pattern in patterns
            if fnmatch((relative / name).as_posix().removeprefix("./"), pattern)
            or (pattern.startswith("**/") and fnmatch(name, pattern[3:]))
        }

    shutil.copytree(REPO_ROOT, destination, ignore=ignored, symlinks=True)


def base_python_visible(root: Path) -> str:
    """Shell lines that, in a private mount namespace, let every user run the test's
    base interpreter at its own path (RUNPATH and pyvenv.cfg name it): a tmpfs over
    the first directory on the way that others may not enter (/root), with only the
    interpreter's directory mounted back in it. Empty when nothing is in the way."""
    base = Path(sys.base_prefix).resolve()
    closed = [p for p in reversed(base.parents) if not os.stat(p).st_mode & stat.S_IXOTH]
    if not closed:
        return ""
    hidden = closed[0]
    assert hidden not in root.parents, f"{root} must not be under {hidden}"
    stash = root / "base-python"
    stash.mkdir(exist_ok=True)
    return "\n".join(
        [
            f"mount --bind {shlex.quote(str(base))} {stash}",
            f"mount -t tmpfs -o mode=0755 tmpfs {shlex.quote(str(hidden))}",
            f"mkdir -p {shlex.quote(str(base))}",
            f"mount --bind {stash} {shlex.quote(str(base))}",
        ]
    )


def snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folders`` with its size and mtime: what the image holds."""
    found = {}
    for folder in folders:
        for directory, _, files in os.walk(folder):
            for name in [".", *files]:
                info = os.lstat(os.path.join(directory, name))
                found[os.path.join(directory, name)] = (info.st_size, info.st_mtime_ns)
    return found


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    """The image built as `docker build` builds it: as root, with the Dockerfile's ENV,
    its RUN line run by /bin/sh in WORKDIR."""
    if os.geteuid() != 0:
        pytest.fail("the image test builds as root and starts as uid 10001: run it as root")
    # Not under pytest's temporary folder, which only root may enter.
    root = Path(tempfile.mkdtemp(prefix="paimon-image-"))
    try:
        root.chmod(0o755)
        image = Image(root, "")
        python = "python{}.{}".format(*sys.version_info[:2])
        image.path("/usr/local/bin").mkdir(parents=True)
        image.path("/usr/local/bin/python").symlink_to(Path(sys.base_prefix) / "bin" / python)
        copy_build_context(image.path(WORKDIR))
        inherited = {  # the machine's package index settings, no Python of its own
            k: v
            for k, v in clean_environ().items()
            if not k.startswith("PYTHON") and k not in ("VIRTUAL_ENV", "PATH")
        }
        build = subprocess.run(
            ["/bin/sh", "-c", image.relocated(BUILD)],
            cwd=image.path(WORKDIR),
            env=inherited | image.env(),
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_SECONDS,
        )
        image.build_output = build.stdout + build.stderr
        (tmp_path_factory.mktemp("image") / "build.log").write_text(image.build_output)
        assert build.returncode == 0, image.build_output
        yield image
    finally:
        shutil.rmtree(root, ignore_errors=True)


def start_as_image_user(image: Image, log_path: Path, **run_env: str) -> subprocess.Popen[bytes]:
    """`docker run -e ...`: the CMD in WORKDIR as USER, with the image's environment and
    HOME the unwritable /app; the same process all the way down (unshare, sh and
    setpriv each exec the next), so stopping it stops gunicorn."""
    script = "\n".join(
        [
            "set -e",
            base_python_visible(image.root),
            f'exec setpriv --reuid {UID} --regid {GID} --clear-groups "$@"',
        ]
    )
    env = image.env() | {"HOME": str(image.path(WORKDIR)), "HOSTNAME": "paimon"} | run_env
    SERVER_LOGS.append(log_path)
    with log_path.open("wb") as log:
        return subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *CMD],
            cwd=image.path(WORKDIR),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def test_the_build_leaves_the_data_directory_empty(image: Image) -> None:
    """No install secret, job database or spool baked into the image: a new volume
    starts as this empty /data, owned by the image's user, and makes its own."""
    data = image.path(VOLUME)
    assert sorted(p.name for p in data.iterdir()) == []
    info = data.stat()
    assert (info.st_uid, info.st_gid) == (UID, GID)
    assert "paimon doctor: all checks passed" in image.build_output
    assert "checked in a scratch directory" in image.build_output
    baked = [
        path
        for folder in (image.path(WORKDIR), image.path("/opt/venv"))
        for path in folder.rglob("install-secret")
    ]
    assert baked == []


@pytest.fixture(scope="module")
def container(image: Image, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`docker run -e PAIMON_HOST=127.0.0.1 -e PAIMON_PORT=<free> paimon`, the volume
    being the image's /data."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("container") / f"gunicorn-{port}.log"
    before = snapshot(image.path(WORKDIR), image.path("/opt/venv"))
    run_env = {"PAIMON_HOST": "127.0.0.1", "PAIMON_PORT": str(port)}
    process = start_as_image_user(image, log_path, **run_env)
    server = ServerProcess(
        f"http://127.0.0.1:{port}", process, log_path, image.path(VOLUME), image.env() | run_env
    )
    await_healthy(server, timeout=60)
    yield server
    server.stop()
    # The image itself is left as built: every write went to the volume.
    assert snapshot(image.path(WORKDIR), image.path("/opt/venv")) == before


def test_the_image_user_starts_the_server_and_an_upload_round_trips(
    container: ServerProcess,
) -> None:
    content = os.urandom(256 * 1024)
    reply = requests.post(
        f"{container.url}/upload", files={"file": ("in-docker.bin", content)}, timeout=60
    )
    assert reply.status_code == 200, reply.text
    link = reply.json()["link"]
    assert requests.get(link, timeout=60).content == content
    assert requests.get(f"{container.url}/readyz", timeout=30).status_code == 200
    assert requests.delete(reply.json()["delete_url"], timeout=30).status_code == 200
    assert requests.get(link, timeout=30).status_code == 404
    # The install secret was made at first start, in the volume, by the image's user.
    secret = container.data_dir / "install-secret"
    info = secret.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (UID, 0o600)
    logs = container.logs()
    for trouble in ("Permission denied", "Traceback", "Control server", '"level": "ERROR"'):
        assert trouble not in logs, logs


@pytest.mark.parametrize(
    "env",
    [{"PAIMON_PORT": "{port}"}, {"PORT": "{port}"}, {"PAIMON_PORT": "{port}", "PORT": "1"}],
    ids=["PAIMON_PORT", "PORT", "PAIMON_PORT-wins"],
)
def test_the_healthcheck_finds_the_port(
    image: Image, container: ServerProcess, env: dict[str, str]
) -> None:
    """The HEALTHCHECK's command, run in the container's environment with the port given
    as the settings take it: PAIMON_PORT first, else PORT."""
    port = container.url.rsplit(":", 1)[1]
    given = {name: value.format(port=port) for name, value in env.items()}
    environ = image.env() | given
    check = subprocess.run(HEALTHCHECK, env=environ, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    missed = subprocess.run(
        HEALTHCHECK, env=environ | {"PAIMON_PORT": "1"}, capture_output=True, timeout=30
    )
    assert missed.returncode != 0  # it does check the port


def test_a_volume_an_older_image_left_is_one_line_naming_the_fix(
    image: Image, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A volume made by the image that baked a root-owned install secret into /data: the
    server says what to chown, once, instead of every worker failing to boot."""
    volume = image.root / "old-volume"
    volume.mkdir()
    os.chown(volume, UID, GID)
    (volume / "install-secret").write_bytes(os.urandom(32))
    (volume / "install-secret").chmod(0o600)  # root's, as `paimon doctor` left it
    log_path = tmp_path_factory.mktemp("old-volume") / "gunicorn.log"
    process = start_as_image_user(
        image,
        log_path,
        PAIMON_DATA_DIR=str(volume),
        PAIMON_HOST="127.0.0.1",
        PAIMON_PORT=str(free_port()),
    )
    assert process.wait(timeout=60) == 2
    lines = log_path.read_text().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"paimon: {volume / 'install-secret'} is owned by uid 0")
    assert f"chown -R {UID}:{GID} {volume}" in lines[0]
