"""A request class whose multipart parser writes file parts straight into the spool.

werkzeug's parser asks ``_get_file_stream`` where each file part goes; by default a
temporary file or memory, which would mean a second copy later. Here each part opens
an upload job and its spool file, so the bytes are written once and counted as they
arrive. Parts the view did not take (refused, cut off, extra) are deleted when the request
closes: their job and spool file are removed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from flask import Request

from paimon.spool.writer import SpoolWriter
from paimon.uploads.intake import IncomingUpload
from paimon.web.context import services
from paimon.web.errors import ApiError
from paimon.web.forms import HeadRecorder, StrictFormDataParser, check_file_part, last_part_size


class SpoolingRequest(Request):
    _incoming: list[IncomingUpload]
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
        incoming_uploads = self.__dict__.setdefault("_incoming", [])
        check_file_part(filename, len(incoming_uploads))
        wired = services()
        incoming = wired.uploads.begin(
            filename,
            self._guess_file_size(total_content_length),
            reserve=total_content_length,  # the whole body: the file is no larger
            owner=wired.limits.key(),
        )
        incoming_uploads.append(incoming)
        return incoming.writer

    def _guess_file_size(self, total_content_length: int | None) -> int | None:
        """The file part's size as ``last_part_size`` guesses it, for pipelining."""
        boundary = self.mimetype_params.get("boundary")
        if self._head is None or not total_content_length or not boundary:
            return None
        return last_part_size(self._head.head, boundary.encode("ascii"), total_content_length)

    @contextmanager
    def spooled_upload(self, field: str) -> Iterator[IncomingUpload]:
        """The one file sent in ``field``, already in the spool with its job, for the
        view to complete. Once the block ends without an error the upload is the
        view's; otherwise closing the request deletes it, as every unclaimed part.

        A second file part or a nameless one was refused while parsing (forms.py)."""
        parts = self.files.getlist(field)
        if not parts:
            raise ApiError(
                400,
                "missing_file",
                f"No file in the request: send it as multipart/form-data in a field named "
                f"'{field}' (curl -F {field}=@name.ext URL/upload).",
            )
        (part,) = parts
        incoming = next(i for i in self._incoming if i.writer is part.stream)
        yield incoming
        self._incoming.remove(incoming)

    def close(self) -> None:
        super().close()
        for incoming in self.__dict__.pop("_incoming", ()):
            services().uploads.delete_incoming(incoming)
