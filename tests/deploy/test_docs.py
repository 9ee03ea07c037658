"""Every user-facing setting has a line in docs/configuration.md."""

from __future__ import annotations

from pydantic import AliasChoices

from paimon.config import Settings
from tests.support.servers import REPO_ROOT


def test_every_setting_is_documented() -> None:
    doc = (REPO_ROOT / "docs" / "configuration.md").read_text()
    rows = [line for line in doc.splitlines() if line.startswith("| `PAIMON_")]
    for name, field in Settings.model_fields.items():
        env = f"PAIMON_{name.upper()}"
        (row,) = [r for r in rows if r.startswith(f"| `{env}`")]
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            for other in alias.choices:
                assert f"`{other}`" in row, f"{env}: {other} missing from its row"
        assert field.description, f"{name} has no description"
    assert len(rows) == len(Settings.model_fields)
