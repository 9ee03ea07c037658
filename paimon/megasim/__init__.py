"""megasim: an offline emulator of MEGA's API, upload and download servers, for tests.

It speaks the protocol as mega.py does (logins with real key derivation and RSA, nodes,
chunked uploads, links, downloads) and never decrypts anything, as MEGA cannot. Start it
with ``python -m paimon.megasim`` or ``paimon megasim``; see docs/megasim.md.
"""

from paimon.megasim.cli import main

__all__ = ["main"]
