"""Multipart bodies refused with a reason, and refused early.

werkzeug's form parser is lenient by default: a body it cannot parse becomes an empty
form, so the client would hear "no file" instead of what is wrong. Here each problem
has its own 400. And every file part opens a job and a spool file as it starts
(paimon/web/request.py), so parts that could never be accepted are refused then,
before a byte of them is written: one nameless or one extra file part ends the request.
The parser itself is multipart.py's.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from paimon.web.errors import ApiError
from paimon.web.multipart import (
    FORM_MEMORY_BYTES,
    FORM_READ_BYTES,
    MAX_FORM_FIELDS,
    FileFastLaneParser,
    HeadRecorder,
)

if TYPE_CHECKING:
    from werkzeug.formparser import t_parse_result


def max_form_parts(max_files: int) -> int:
    """werkzeug's cap on a form's parts: the fields kept in memory, and the files."""
    return MAX_FORM_FIELDS + max_files


def check_file_part(filename: str | None, parts_so_far: int, max_files: int) -> None:
    """Refuse a file part before it is spooled: it has no name, or is one too many."""
    if not max_files:
        raise ApiError("too_many_files", "This form takes no files.")
    if parts_so_far >= max_files:
        files = "one file" if max_files == 1 else f"at most {max_files} files"
        raise ApiError(
            "too_many_files",
            f"Send {files} per request (PAIMON_MAX_FILES_PER_REQUEST); nothing of this "
            "request was kept.",
        )
    if not filename:
        raise ApiError("missing_filename", "The file part has no filename.")


class StrictFormDataParser(FormDataParser):
    """A form parser that says why a body is not a form it can read."""

    def _parse_multipart(
        self,
        stream: IO[bytes],
        mimetype: str,
        content_length: int | None,
        options: dict[str, str],
    ) -> t_parse_result:
        """werkzeug's own, with FileFastLaneParser for werkzeug's MultiPartParser."""
        parser = FileFastLaneParser(
            stream_factory=self.stream_factory,
            max_form_memory_size=self.max_form_memory_size,
            max_form_parts=self.max_form_parts,
            cls=self.cls,
            buffer_size=FORM_READ_BYTES,
        )
        boundary = options["boundary"].encode("ascii")
        form, files = parser.parse(stream, boundary, content_length)  # type: ignore[arg-type]
        return stream, form, files

    def parse(
        self,
        stream: IO[bytes],
        mimetype: str,
        content_length: int | None,
        options: dict[str, str] | None = None,
    ) -> t_parse_result:
        if mimetype != "multipart/form-data":
            # werkzeug reads an urlencoded body whole into memory, past any form cap: no
            # route takes one, so whichever touches request.form refuses it unread.
            raise ApiError("unsupported_media_type", "A form body must be 'multipart/form-data'.")
        if not (options or {}).get("boundary"):
            raise ApiError(
                "missing_boundary",
                "The multipart/form-data Content-Type has no boundary parameter.",
            )
        self.silent = False
        try:
            return super().parse(stream, mimetype, content_length, options)
        except RequestEntityTooLarge:
            if isinstance(stream, HeadRecorder) and not stream.reached(self.max_content_length):
                raise ApiError(
                    "form_too_large",
                    f"A form field or a part's headers are larger than {FORM_MEMORY_BYTES:,} "
                    f"bytes, or the form has more than {MAX_FORM_FIELDS} fields: send the "
                    "files in the field 'file', with few other fields.",
                ) from None
            raise  # the body passed PAIMON_MAX_UPLOAD_BYTES
        except UnicodeDecodeError:
            raise ApiError(
                "bad_part_header", "A part's headers (its filename) are not valid UTF-8."
            ) from None
        except ValueError:
            raise ApiError(
                "malformed_multipart",
                "The multipart body is malformed or incomplete (check the boundary "
                "and that the body ends with it).",
            ) from None
