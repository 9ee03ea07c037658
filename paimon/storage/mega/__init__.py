"""MEGA storage: mega.py's login and API commands, hardened, and Paimon's own uploader."""

from paimon.storage.mega.backend import MegaStorage

__all__ = ["MegaStorage"]
