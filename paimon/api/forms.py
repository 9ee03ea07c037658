"""Multipart bodies refused with a reason, and refused early.

werkzeug's form parser is lenient by default: a body it cannot parse becomes an empty
form, so the client would hear "no file" instead of what is wrong. Here each problem
has its own 400. And every file part opens a job and a spool file as it starts
(paimon/api/spooling.py), so parts that could never be accepted are refused then,
before a byte of them is written: one nameless or one extra file part ends the request.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from werkzeug.formparser import FormDataParser

from paimon.api.errors import ApiError

if TYPE_CHECKING:
    from werkzeug.formparser import t_parse_result

# POST /upload takes exactly one file; a PUT or tus upload is one body, not multipart.
# A setting could only lower this to zero, so it is fixed.
MAX_FILE_PARTS = 1


def check_file_part(filename: str | None, parts_so_far: int) -> None:
    """Refuse a file part before it is spooled: it has no name, or is one too many."""
    if parts_so_far >= MAX_FILE_PARTS:
        raise ApiError(400, "too_many_files", "Send one file per request.")
    if not filename:
        raise ApiError(400, "missing_filename", "The file part has no filename.")


class StrictFormDataParser(FormDataParser):
    """A form parser that says why a body is not a form it can read."""

    def parse(
        self,
        stream: IO[bytes],
        mimetype: str,
        content_length: int | None,
        options: dict[str, str] | None = None,
    ) -> t_parse_result:
        if mimetype == "multipart/form-data" and not (options or {}).get("boundary"):
            raise ApiError(
                400,
                "missing_boundary",
                "The multipart/form-data Content-Type has no boundary parameter.",
            )
        self.silent = False
        try:
            return super().parse(stream, mimetype, content_length, options)
        except UnicodeDecodeError:
            raise ApiError(
                400, "bad_part_header", "A part's headers (its filename) are not valid UTF-8."
            ) from None
        except ValueError:
            raise ApiError(
                400,
                "malformed_multipart",
                "The multipart body is malformed or incomplete (check the boundary "
                "and that the body ends with it).",
            ) from None
