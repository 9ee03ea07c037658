"""Paimon: a self-hosted upload gateway that stores files in MEGA and hands back links."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from paimon.config import Settings

__version__ = "0.1.0"


def create_app(settings: Settings | None = None) -> Flask:
    """Application factory (``flask --app paimon``), the composition root's
    (paimon/bootstrap/wiring.py). Imported lazily so that `paimon doctor` can still
    report on a broken environment in which Flask or mega.py won't import."""
    from paimon.bootstrap.wiring import create_app as factory

    return factory(settings)
