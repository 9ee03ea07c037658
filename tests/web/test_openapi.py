"""docs/openapi.yaml describes every endpoint, and stays true: schemathesis runs all its
checks (no 5xx, statuses, headers, content types and bodies as described, invalid input
refused, auth enforced) against a live local-storage server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from paimon.bootstrap.wiring import build_app
from paimon.config import Settings
from tests.support.servers import REPO_ROOT

SPEC = REPO_ROOT / "docs" / "openapi.yaml"
TOKEN = "schema-token"
IMPLICIT = {"HEAD", "OPTIONS"}  # added by Flask to every GET route / every route


def test_every_route_is_described(tmp_path: Path) -> None:
    spec = yaml.safe_load(SPEC.read_text())
    app = build_app(Settings(data_dir=tmp_path))
    served: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        methods = rule.methods or set()
        explicit = methods - IMPLICIT
        # A route declared for HEAD or OPTIONS alone (tus) names them on purpose.
        served.setdefault(path, set()).update(explicit or methods)
    described = {
        path: {method.upper() for method in item if method != "parameters"}
        for path, item in spec["paths"].items()
    }
    assert described == served


def test_schemathesis_finds_nothing(server_factory, tmp_path: Path) -> None:
    # The same token uploads and is an owner's: the owner API is fuzzed as well.
    server = server_factory(auth_tokens=TOKEN, admin_tokens=TOKEN, rate_limit_uploads="")
    spec = yaml.safe_load(SPEC.read_text())
    # `service` must name this server's backend (GET /status lists it) or be empty:
    # narrow it to what this deployment offers, or valid-looking requests are refused.
    spec["components"]["parameters"]["Service"]["schema"]["enum"] = ["local", ""]
    # A link's MEGA folder is refused on local storage (400 folder_unsupported).
    link_body = spec["paths"]["/api/upload-links"]["post"]["requestBody"]["content"]
    del link_body["application/json"]["schema"]["properties"]["folder"]
    narrowed = tmp_path / "openapi.yaml"
    narrowed.write_text(yaml.safe_dump(spec))
    env = os.environ | {
        "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hooks",
        "PYTHONPATH": str(REPO_ROOT),
    }
    # fmt: off
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file", str(REPO_ROOT / "tests" / "support" / "schemathesis.toml"),
        "run", str(narrowed),
        "--url", server.url,
        "--checks", "all",
        "--header", f"Authorization: Bearer {TOKEN}",
        "--max-examples", "25",
        "--seed", "20251124",  # reproducible in CI; change it locally to explore
        "--generation-database", "none",
        "--no-color",
    ]
    # fmt: on
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
    )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert "Traceback" not in server.logs()
