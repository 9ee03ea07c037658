"""Storage backends: where accepted uploads end up. See base.py for the interface."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the package stays importable where pydantic is broken (doctor)
    from paimon.config import Settings
    from paimon.storage.base import StorageBackend


def build_storage(settings: Settings) -> StorageBackend:
    """The backend the settings ask for. MEGA is imported only when chosen."""
    if settings.storage_backend == "mega":
        from paimon.storage.mega import MegaStorage

        return MegaStorage.from_settings(settings)
    from paimon.storage.local import LocalStorage

    return LocalStorage(settings.data_dir / "files")
