"""A request class whose multipart parser writes file parts straight into the spool.

werkzeug's parser asks ``_get_file_stream`` where each file part goes; by default a
temporary file or memory, which would mean a second copy later. Here each part opens
an upload job and its spool file, so the bytes are written once and counted as they
arrive. Parts the view did not claim (refused, cut off, extra) are abandoned when the
request closes: their job and spool file are removed.
"""

from __future__ import annotations

from flask import Request
from werkzeug.datastructures import FileStorage

from paimon.api.context import services
from paimon.api.forms import StrictFormDataParser, check_file_part
from paimon.services.spool import SpoolWriter
from paimon.services.uploads import Receipt


class SpoolingRequest(Request):
    _receipts: list[Receipt]
    form_data_parser_class = StrictFormDataParser

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> SpoolWriter:
        receipts = self.__dict__.setdefault("_receipts", [])
        check_file_part(filename, len(receipts))
        receipt = services().uploads.begin(filename)
        receipts.append(receipt)
        return receipt.writer

    def receipt_for(self, part: FileStorage) -> Receipt:
        """The upload job a parsed file part was spooled into."""
        return next(r for r in self.__dict__.get("_receipts", ()) if r.writer is part.stream)

    def claim(self, receipt: Receipt) -> None:
        """The view took this upload over; closing the request must not abandon it."""
        self._receipts.remove(receipt)

    def close(self) -> None:
        super().close()
        for receipt in self.__dict__.pop("_receipts", ()):
            services().uploads.abandon(receipt)
