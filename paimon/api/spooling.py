"""A request class whose multipart parser writes file parts straight into the spool.

werkzeug's parser asks ``_get_file_stream`` where each file part goes; by default a
temporary file or memory, which would mean a second copy later. Here it is a spool
file, so the bytes are written once. Spool files nobody claimed (a failed or refused
upload) are removed when the request closes.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from flask import Request

from paimon.api.context import services


class SpoolingRequest(Request):
    _spooled: list[Path]

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> BinaryIO:
        stream = services().spool.new_file()
        if not hasattr(self, "_spooled"):
            self._spooled = []
        self._spooled.append(Path(stream.name))
        return stream

    def close(self) -> None:
        super().close()
        for path in getattr(self, "_spooled", ()):
            path.unlink(missing_ok=True)
