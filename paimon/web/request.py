"""A request class whose multipart parser writes file parts straight into the spool.

werkzeug's parser asks ``_get_file_stream`` where each file part goes; by default a
temporary file or memory, which would mean a second copy later. Here each part opens
an upload job and its spool file, so the bytes are written once and counted as they
arrive. Parts the view did not take (refused, cut off, in another field) are deleted
when the request closes: their job and spool file are removed.
"""

from __future__ import annotations

from typing import IO

from flask import Request

from paimon.spool.writer import SpoolWriter
from paimon.uploads.intake import IncomingUpload
from paimon.uploads.origins import Origin
from paimon.web.auth import token_origin
from paimon.web.context import services
from paimon.web.errors import ApiError
from paimon.web.forms import StrictFormDataParser, check_file_part
from paimon.web.multipart import HeadRecorder, last_part_size
from paimon.web.placement import Placement, check_form, place


class SpoolingRequest(Request):
    _incoming: list[IncomingUpload]
    _head: HeadRecorder | None = None
    form_data_parser_class = StrictFormDataParser
    #: Set by a view before the body is read: the most file parts it takes (default:
    #: PAIMON_MAX_FILES_PER_REQUEST), and where its uploads come from (default: the
    #: token's label).
    file_limit: int | None = None
    origin: Origin | None = None
    #: Where the files go (their folder, a bundle), decided as the first file part
    #: starts, from the query and the fields sent before it.
    placement: Placement | None = None

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
        wired = services()
        limit = wired.max_files_per_request if self.file_limit is None else self.file_limit
        check_file_part(filename, len(incoming_uploads), limit)
        first = not incoming_uploads
        if self.placement is None:
            fields = dict(self._head.fields) if self._head is not None else {}
            origin = token_origin() if self.origin is None else self.origin
            self.placement = place(origin, fields, bundles=True)
        incoming = wired.uploads.begin(
            filename,
            # Only the first file part can be the body's last (later ones come after it)
            # and only it reserves: the whole body, so every file of it fits.
            self._guess_file_size(total_content_length) if first else None,
            reserve=total_content_length if first else None,
            owner=wired.identity.key(),
            origin=self.placement.origin,
        )
        incoming_uploads.append(incoming)
        return incoming.writer

    def _guess_file_size(self, total_content_length: int | None) -> int | None:
        """The file part's size as ``last_part_size`` guesses it, for pipelining."""
        boundary = self.mimetype_params.get("boundary")
        if self._head is None or not total_content_length or not boundary:
            return None
        return last_part_size(self._head.head, boundary.encode("ascii"), total_content_length)

    def spooled_uploads(self, field: str) -> list[IncomingUpload]:
        """The files sent in ``field``, in order, already in the spool with their jobs,
        for the view to complete. Closing the request deletes every part not completed
        (UploadService.complete): refused, cut off, or in another field.

        A file part over PAIMON_MAX_FILES_PER_REQUEST or a nameless one was refused while
        parsing (forms.py)."""
        parts = self.files.getlist(field)
        if not parts:
            raise ApiError(
                "missing_file",
                f"No file in the request: send it as multipart/form-data in a field named "
                f"'{field}' (curl -F {field}=@name.ext URL/upload).",
            )
        check_form(self.placement)
        streams = [part.stream for part in parts]
        return [next(i for i in self._incoming if i.writer is s) for s in streams]

    def close(self) -> None:
        super().close()
        for incoming in self.__dict__.pop("_incoming", ()):
            if not incoming.completed:
                services().uploads.delete_incoming(incoming)
