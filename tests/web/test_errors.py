"""The one error table (paimon/web/errors.py): every kind has a status and a message,
a Retry-After only where waiting helps, and the same status in docs/api.md and in
docs/openapi.yaml; every kind the code names is in it, and the app's replies take
their status, Retry-After and body from it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from paimon.bootstrap.wiring import build_app, stop
from paimon.config import Settings
from paimon.web.errors import KINDS, error_body
from tests.support.servers import REPO_ROOT

#: Calls whose first argument is a kind, and where a kind is the argument at that index.
NAMING_CALLS = {
    "ApiError": 0,
    "UploadRefused": 0,
    "ReservationRefused": 0,
    "error_response": 0,
    "error_body": 0,
    "status_of": 0,
    "_fail": 3,
}


def documented_kinds() -> dict[str, int]:
    """The kinds in docs/api.md's "Every error, by kind", each with its row's status."""
    doc = (REPO_ROOT / "docs" / "api.md").read_text()
    section = doc.split("## Every error, by kind", 1)[1]
    kinds: dict[str, int] = {}
    for line in section.splitlines():
        row = re.match(r"\| (\d{3}) \| ([^|]+) \|", line)
        if row:
            for kind in re.findall(r"`([a-z0-9_]+)`", row[2]):
                assert kind not in kinds, f"{kind} is listed twice"
                kinds[kind] = int(row[1])
    return kinds


def is_code(node: ast.Assign) -> bool:
    """``code = "<kind>"``, as StorageError subclasses name their kind."""
    targets = [getattr(target, "id", None) for target in node.targets]
    value = node.value
    return targets == ["code"] and isinstance(value, ast.Constant) and isinstance(value.value, str)


def named_in_code() -> set[str]:
    """Every kind the product names where it refuses or fails: the literal first
    argument of the calls above, and StorageError subclasses' ``code``."""
    names: set[str] = set()
    for path in (REPO_ROOT / "paimon").rglob("*.py"):
        if "megasim" in path.parts:  # the emulator speaks MEGA's errors, not ours
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                index = NAMING_CALLS.get(name)
                if index is not None and len(node.args) > index:
                    argument = node.args[index]
                    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                        names.add(argument.value)
            elif isinstance(node, ast.Assign) and is_code(node):
                names.add(node.value.value)  # type: ignore[attr-defined]
    return names


def test_every_kind_has_a_status_and_a_message() -> None:
    for kind, entry in KINDS.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", kind), kind
        assert 400 <= entry.status <= 599, kind
        assert entry.message.strip().endswith("."), kind
        assert entry.label in ("error", "unavailable"), kind


def test_retry_after_only_where_waiting_helps() -> None:
    waits = {kind: entry for kind, entry in KINDS.items() if entry.retry_after is not None}
    assert set(waits) == {
        "too_many_uploads",
        "server_busy",
        "store_unavailable",
        "spool_unavailable",
        "not_ready",
    }
    for kind, entry in waits.items():
        assert entry.status in (429, 503) and entry.retry_after > 0, kind


def test_every_kind_is_in_the_api_docs_with_its_status() -> None:
    assert documented_kinds() == {kind: entry.status for kind, entry in KINDS.items()}


def test_every_kind_is_in_the_openapi_spec_with_its_status() -> None:
    spec = yaml.safe_load((REPO_ROOT / "docs" / "openapi.yaml").read_text())
    described = spec["components"]["x-error-kinds"]
    assert described == {kind: entry.status for kind, entry in KINDS.items()}


def test_every_kind_the_code_names_is_in_the_table() -> None:
    named = named_in_code()
    assert len(named) > 40, sorted(named)  # the walk finds the refusals at all
    assert named - set(KINDS) == set()


def test_the_body_builder() -> None:
    assert error_body("token_rejected") == {
        "status": "error",
        "error": "token_rejected",
        "message": "The upload token is not valid.",
    }
    assert error_body("gone", "Expired at noon.", id="x") == {
        "status": "error",
        "error": "gone",
        "message": "Expired at noon.",
        "id": "x",
    }
    assert error_body("not_ready", "spool failed")["status"] == "unavailable"
    assert error_body("no_such_kind", "?")["status"] == "error"


def test_replies_take_status_retry_after_and_body_from_the_table(tmp_path: Path) -> None:
    """A web check (tus's version), a missing job, a refusal werkzeug raises (405) and
    readiness (a spool that never has room): each reply is the table's."""
    app = build_app(Settings(data_dir=tmp_path / "data", min_free_bytes=2**62))
    client = app.test_client()
    try:
        replies = {
            "unsupported_tus_version": client.post("/tus/"),
            "not_found": client.get("/status/no-such-job"),
            "name_required": client.put("/upload"),
            "not_ready": client.get("/readyz"),
        }
    finally:
        stop(app)
    for kind, reply in replies.items():
        entry = KINDS[kind]
        assert reply.status_code == entry.status, kind
        body = reply.get_json()
        assert (body["status"], body["error"]) == (entry.label, kind)
        assert body["message"], kind
        wait = reply.headers.get("Retry-After")
        assert wait == (None if entry.retry_after is None else str(entry.retry_after)), kind
    assert replies["unsupported_tus_version"].headers["Tus-Version"] == "1.0.0"
    assert set(replies["name_required"].headers["Allow"].split(", ")) == {"OPTIONS", "POST"}
    assert replies["not_ready"].get_json()["failed"] == ["spool"]
