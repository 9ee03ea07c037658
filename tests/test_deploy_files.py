"""Render, Docker, the README and the scripts must name the same build and start."""

from __future__ import annotations

import json
import re
import shlex

import yaml

from tests.conftest import REPO_ROOT

BUILD = "scripts/build"
START = "gunicorn -c gunicorn.conf.py wsgi:app"


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [
        (m[1].upper(), m[2].strip())
        for m in re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", text, re.M)
        if not m[0].lstrip().startswith("#")
    ]


def test_render_blueprint() -> None:
    blueprint = yaml.safe_load((REPO_ROOT / "render.yaml").read_text())
    (service,) = blueprint["services"]
    assert service["runtime"] == "python"
    assert service["buildCommand"] == BUILD
    assert service["startCommand"] == START
    assert service["healthCheckPath"] == "/healthz"
    env = {v["key"]: v for v in service["envVars"]}
    assert env["PYTHON_VERSION"]["value"].startswith("3.13.")
    assert env["PAIMON_AUTH_TOKENS"]["generateValue"] is True
    for secret in ("PAIMON_MEGA_EMAIL", "PAIMON_MEGA_PASSWORD"):
        assert env[secret]["sync"] is False


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
