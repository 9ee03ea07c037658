"""A request class whose multipart parser writes file parts straight into the spool.

werkzeug's parser asks ``_get_file_stream`` where each file part goes; by default a
temporary file or memory, which would mean a second copy later. Here each part opens
an upload job and its spool file, so the bytes are written once and counted as they
arrive. Parts the view did not claim (refused, cut off, extra) are abandoned when the
request closes: their job and spool file are removed.
"""

from __future__ import annotations

from typing import IO

from flask import Request
from werkzeug.datastructures import FileStorage

from paimon.spool.writer import SpoolWriter
from paimon.uploads.intake import Receipt
from paimon.web.context import services
from paimon.web.forms import HeadRecorder, StrictFormDataParser, check_file_part, last_part_size


class SpoolingRequest(Request):
    _receipts: list[Receipt]
    _head: HeadRecorder | None = None
    form_data_parser_class = StrictFormDataParser

    def _get_stream_for_parsing(self) -> IO[bytes]:
        self._head = HeadRecorder(super()._get_stream_for_parsing())
        return self._head  # type: ignore[return-value]

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> SpoolWriter:
        receipts = self.__dict__.setdefault("_receipts", [])
        check_file_part(filename, len(receipts))
        wired = services()
        receipt = wired.uploads.begin(
            filename,
            self._guess_file_size(total_content_length),
            reserve=total_content_length,  # the whole body: the file is no larger
            owner=wired.limits.key(),
        )
        receipts.append(receipt)
        return receipt.writer

    def _guess_file_size(self, total_content_length: int | None) -> int | None:
        """The file part's size as ``last_part_size`` guesses it, for pipelining."""
        boundary = self.mimetype_params.get("boundary")
        if self._head is None or not total_content_length or not boundary:
            return None
        return last_part_size(self._head.head, boundary.encode("ascii"), total_content_length)

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
