"""Render, Docker, the README and the scripts must name the same build and start."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path, PurePosixPath

import yaml

from paimon.config import Settings
from tests.support.deployfiles import dockerfile_instructions
from tests.support.servers import REPO_ROOT, clean_environ, gunicorn_command

BUILD = "scripts/build"
START = "gunicorn -c gunicorn.conf.py wsgi:app"
# Seconds between gunicorn's graceful timeout and the platform's SIGKILL, for the master
# to kill its workers and exit (docs/deployment.md, "Shutdown window").
STOP_RESERVE_SECONDS = 10
RENDER_MAX_SHUTDOWN_DELAY = 300  # Render's ceiling for maxShutdownDelaySeconds
GRACEFUL = Settings.model_fields["graceful_timeout_seconds"].default


def blueprint(name: str) -> list[dict]:
    return yaml.safe_load((REPO_ROOT / name).read_text())["services"]


def env_of(service: dict) -> dict[str, dict]:
    return {v["key"]: v for v in service["envVars"]}


def gunicorn_config(cwd: Path, **env: str) -> dict[str, str]:
    """gunicorn.conf.py as gunicorn itself reads it (--print-config), with ``env``."""
    output = subprocess.run(
        [*gunicorn_command(), "--print-config"],
        cwd=cwd,
        env=clean_environ()
        | {"PYTHONPATH": str(REPO_ROOT), "PROMETHEUS_MULTIPROC_DIR": str(cwd)}
        | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return dict(
        (name.strip(), value.strip())
        for name, _, value in (line.partition("=") for line in output.splitlines())
    )


def check_web_service(service: dict) -> None:
    """What both Blueprints share: build, start, health, secrets, shutdown window."""
    assert service["type"] == "web"
    assert service["runtime"] == "python"
    assert service["buildCommand"] == BUILD
    assert service["startCommand"] == START
    assert service["healthCheckPath"] == "/healthz"
    assert service["plan"] != "free"  # no disk, no persistent Key Value on free
    env = env_of(service)
    assert env["PYTHON_VERSION"]["value"].startswith("3.13.")
    assert env["PAIMON_AUTH_TOKENS"]["generateValue"] is True
    for secret in ("PAIMON_MEGA_EMAIL", "PAIMON_MEGA_PASSWORD", "PAIMON_MEGA_TOTP_SECRET"):
        assert env[secret]["sync"] is False
    # Links never follow a client's Host header: Render asks for the public URL when the
    # Blueprint is created (and Paimon falls back to RENDER_EXTERNAL_URL without it).
    assert env["PAIMON_PUBLIC_URL"]["sync"] is False
    # Gunicorn's graceful timeout ends, with time to stop, before Render's SIGKILL.
    delay = service["maxShutdownDelaySeconds"]
    assert delay <= RENDER_MAX_SHUTDOWN_DELAY
    assert "PAIMON_GRACEFUL_TIMEOUT_SECONDS" not in env  # the default is what is matched
    assert delay == GRACEFUL + STOP_RESERVE_SECONDS


def test_render_blueprint_keeps_data_on_a_disk() -> None:
    (service,) = blueprint("render.yaml")
    check_web_service(service)
    disk = service["disk"]
    assert disk["name"] and disk["sizeGB"] >= 1
    mount = PurePosixPath(disk["mountPath"])
    data_dir = PurePosixPath(env_of(service)["PAIMON_DATA_DIR"]["value"])
    assert mount.is_absolute() and (data_dir == mount or mount in data_dir.parents)
    # A disk means one instance: Render refuses to scale a service with a disk.
    assert service.get("numInstances", 1) == 1
    assert "PAIMON_REDIS_URL" not in env_of(service)  # SQLite, on the disk


def test_render_multi_instance_variant() -> None:
    web, keyvalue = blueprint("render.multi.yaml")
    check_web_service(web)
    assert "disk" not in web and web["numInstances"] >= 2
    assert keyvalue["type"] == "keyvalue"
    assert keyvalue["maxmemoryPolicy"] == "noeviction"
    assert keyvalue["plan"] != "free"
    redis_url = env_of(web)["PAIMON_REDIS_URL"]["fromService"]
    assert redis_url == {
        "type": "keyvalue",
        "name": keyvalue["name"],
        "property": "connectionString",
    }
    # No disk: the spool is in a bucket, its address and credentials asked for by Render.
    for name in (
        "PAIMON_SPOOL_URL",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ):
        assert env_of(web)[name] == {"key": name, "sync": False}, name


def test_gunicorn_reads_the_matched_graceful_timeout(tmp_path: Path) -> None:
    config = gunicorn_config(tmp_path)
    assert config["graceful_timeout"] == str(GRACEFUL)
    assert config["worker_class"] == "paimon.server.worker.JsonErrorThreadWorker"
    assert gunicorn_config(tmp_path, PAIMON_GRACEFUL_TIMEOUT_SECONDS="7")["graceful_timeout"] == "7"
    assert gunicorn_config(tmp_path, WEB_CONCURRENCY="3")["workers"] == "3"
    # No control socket under $HOME, which the Docker image's user cannot write.
    assert config["control_socket_disable"] == "True"


def test_compose_two_instances_share_redis_and_a_volume() -> None:
    compose = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())
    services = compose["services"]
    paimons = {name: s for name, s in services.items() if name.startswith("paimon")}
    assert len(paimons) == 2
    assert "redis" in services and "healthcheck" in services["redis"]
    assert "noeviction" in services["redis"]["command"]
    ports = set()
    for service in paimons.values():
        env = service["environment"]
        assert env["PAIMON_REDIS_URL"].startswith("redis://redis:")
        # Required ("?"): compose refuses to start until the user names the public URL.
        assert env["PAIMON_PUBLIC_URL"].startswith("${PAIMON_PUBLIC_URL:?")
        (volume,) = service["volumes"]
        name, mount = volume.split(":")
        assert name in compose["volumes"] and mount == env["PAIMON_DATA_DIR"]
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert "/healthz" in " ".join(service["healthcheck"]["test"])
        assert service["build"] == "."
        grace = int(service["stop_grace_period"].removesuffix("s"))
        assert grace == int(env["PAIMON_GRACEFUL_TIMEOUT_SECONDS"]) + STOP_RESERVE_SECONDS
        (port,) = service["ports"]
        assert port.endswith(":8000")
        ports.add(port)
    assert len(ports) == 2
    (a, b) = paimons.values()
    assert a["environment"] == b["environment"] and a["volumes"] == b["volumes"]


def test_deployment_doc_covers_each_way_to_run() -> None:
    text = (REPO_ROOT / "docs" / "deployment.md").read_text()
    for needle in (
        "render.multi.yaml",
        "compose.yaml",
        "maxShutdownDelaySeconds: 120",
        "PAIMON_GRACEFUL_TIMEOUT_SECONDS",
        "Without a shared volume",
        "no zero-downtime deploys",
        "160 MiB per worker after 64 MiB for the master",
    ):
        assert needle in text, needle


def doc_sections(name: str) -> dict[str, str]:
    """A Markdown file's text under each of its ``##`` headings."""
    text = (REPO_ROOT / name).read_text()
    return {
        part.split("\n", 1)[0].strip(): part for part in re.split(r"^## ", text, flags=re.M)[1:]
    }


def test_deployment_doc_says_public_url_and_the_stop_timeout() -> None:
    """A custom domain on Render and Docker behind a TLS proxy need PAIMON_PUBLIC_URL;
    `docker run` needs the shutdown window compose.yaml and render.yaml give."""
    sections = doc_sections("docs/deployment.md")
    render = sections["Render: one instance on a disk (`render.yaml`)"]
    docker = sections["Docker"]
    assert "custom domain" in render and "PAIMON_PUBLIC_URL" in render
    assert "TLS proxy" in docker and "PAIMON_PUBLIC_URL=https://" in docker
    runs = re.findall(r"^docker run .*$", docker.replace("\\\n", " "), re.M)
    assert runs
    for run in runs:
        assert f"--stop-timeout {GRACEFUL + STOP_RESERVE_SECONDS}" in run, run


def test_readme_names_the_pythons_and_time_scripts_test_needs() -> None:
    versions = re.search(
        r"PAIMON_TEST_PYTHONS:-([\d. ]+)\}", (REPO_ROOT / "scripts" / "test").read_text()
    )
    assert versions
    section = doc_sections("README.md")["Two commands"]
    for version in versions[1].split():
        assert version in section, version
    assert "pyenv" in section and "about 20 minutes on 2 CPUs" in section


def test_dockerfile_builds_and_starts_the_same_way() -> None:
    instructions = dockerfile_instructions()
    runs = " ".join(arg for op, arg in instructions if op == "RUN")
    assert BUILD in runs
    (cmd,) = [arg for op, arg in instructions if op == "CMD"]
    assert json.loads(cmd) == shlex.split(START)
    (healthcheck,) = [arg for op, arg in instructions if op == "HEALTHCHECK"]
    assert "/healthz" in healthcheck
    user = [arg for op, arg in instructions if op == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert any(op == "ARG" and arg.startswith("PYTHON_VERSION=3.13") for op, arg in instructions)


def test_readme_and_docs_name_the_same_commands() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    deployment = (REPO_ROOT / "docs" / "deployment.md").read_text()
    for text in (readme, deployment):
        assert BUILD in text
        assert START in text
    assert "scripts/serve" in readme
    assert "scripts/test" in readme


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "exec scripts/test" in ci
    assert "scripts/test" in (REPO_ROOT / "README.md").read_text()


def test_serve_script_uses_the_start_command() -> None:
    serve = (REPO_ROOT / "scripts" / "serve").read_text()
    assert ".venv/bin/" + START in serve
    assert BUILD in serve
