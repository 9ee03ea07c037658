"""FileFastLaneParser reads file content around werkzeug's decoder: whatever the body,
it must parse exactly as werkzeug's own MultiPartParser does, or fail as it does."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.formparser import MultiPartParser

from paimon.web.multipart import FileFastLaneParser
from tests.support.rawhttp import curl_form

BOUNDARY = b"b0undary-7Xq"
#: Pieces that look like (parts of) a boundary line, so content and block edges meet them.
TRICKY = [
    b"\r",
    b"\n",
    b"\r\n",
    b"-",
    b"--",
    BOUNDARY,
    b"--" + BOUNDARY,
    b"\r\n--" + BOUNDARY[:5],
    b"\r\n--" + BOUNDARY + b"x",
    b"\n--" + BOUNDARY + b"--",
]
content = st.lists(st.sampled_from(TRICKY) | st.binary(max_size=40), max_size=30).map(b"".join)
part = st.tuples(st.sampled_from(["file", "note"]), st.booleans(), content)


class ShortReads(io.BytesIO):
    """A body that arrives at most ``step`` bytes per read, as from a socket."""

    def __init__(self, body: bytes, step: int):
        super().__init__(body)
        self.step = step

    def read(self, size: int | None = -1) -> bytes:
        return super().read(self.step if size is None or size < 0 else min(size, self.step))

    def readinto(self, buffer) -> int:  # type: ignore[override]
        return super().readinto(memoryview(buffer)[: self.step])


def encode(parts: list[tuple[str, bool, bytes]], ending: bytes) -> bytes:
    fields = [(name, ("f.bin", data) if is_file else data) for name, is_file, data in parts]
    return curl_form(fields, BOUNDARY, ending)


def outcome(parser_class: type[MultiPartParser], body: bytes, buffer_size: int, step: int):
    """What the parser makes of the body: fields and files, or the exception's type."""
    parser = parser_class(buffer_size=buffer_size, max_form_memory_size=None)
    try:
        fields, files = parser.parse(ShortReads(body, step), BOUNDARY, len(body))
    except Exception as exc:  # the outcome under test; compared below
        return type(exc)
    return list(fields.items(multi=True)), [
        (name, part.filename, part.read()) for name, part in files.items(multi=True)
    ]


@settings(max_examples=400, deadline=None)
@given(
    parts=st.lists(part, min_size=1, max_size=3),
    ending=st.sampled_from([b"--\r\n", b"--", b"\r\n", b""]),
    cut=st.integers(min_value=0, max_value=40),
    buffer_size=st.sampled_from([16, 37, 64, 1024]),
    step=st.sampled_from([1, 5, 64, 10_000]),
)
def test_parses_like_werkzeug(parts, ending, cut, buffer_size, step) -> None:
    """Also for bodies cut short (by up to 40 bytes), with reads of any size."""
    body = encode(parts, ending)
    body = body[: len(body) - cut]
    expected = outcome(MultiPartParser, body, buffer_size, step)
    assert outcome(FileFastLaneParser, body, buffer_size, step) == expected


def test_a_large_file_arrives_whole_through_the_lane() -> None:
    """Megabytes of content, including boundary look-alikes, between fields."""
    data = (b"x" * 70_000 + b"\r\n--" + BOUNDARY + b"!" + bytes(range(256))) * 40
    body = encode(
        [("note", False, b"before"), ("file", True, data), ("note", False, b"after")], b"--\r\n"
    )
    fields, files = outcome(FileFastLaneParser, body, 64 * 1024, 10**9)
    assert fields == [("note", "before"), ("note", "after")]
    assert files == [("file", "f.bin", data)]
