"""The multipart parser engine: werkzeug's decoder, driven as werkzeug drives it, with
a fast lane for file content, and the guess of a file part's size from a body's head.

A file part's size is not in the body, but curl, browsers and requests put the file
last and end the body with the close delimiter: ``last_part_size`` guesses the size
from the body's first bytes, so the transfer can start while the file arrives. The
file's content itself goes around werkzeug's decoder (``FileFastLaneParser``). Which
bodies are refused, and how, is forms.py's.
"""

from __future__ import annotations

import time
from typing import IO, Protocol

from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import MultiPartParser
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from paimon.spool.bodies import FIRST_READ_SIZE, next_read_size

#: How much of a multipart body is kept to find where its file part starts: the file's
#: headers are in it unless fields before the file are larger; then the file is not
#: pipelined.
HEAD_BYTES = 64 * 1024
#: Multipart bodies are read 1 MiB at a time (werkzeug reads 64 KiB): fewer turns per
#: file, and fewer hand-overs between the threads receiving and transferring it. 256 KiB
#: took 15% less CPU than 64 KiB for a 256 MiB file; 1 MiB was 6% faster again.
FORM_READ_BYTES = 1024 * 1024
#: werkzeug's decoder refuses (413) a read that, with what it still holds, passes this;
#: it also holds each form field's value in memory up to it. Room for one read and a
#: part's headers (Flask's default, 500 kB, is less than one read).
FORM_MEMORY_BYTES = 2 * FORM_READ_BYTES
#: Paimon reads file parts and a few fields, but werkzeug keeps every field in memory:
#: at most MAX_FORM_FIELDS x FORM_MEMORY_BYTES (32 MiB) per request, where Flask's
#: default (1,000 parts) allowed 500 MB. File parts (PAIMON_MAX_FILES_PER_REQUEST) go
#: to the spool, not to memory, and are allowed on top (``max_form_parts``).
MAX_FORM_FIELDS = 16


class Readable(Protocol):
    """What the form parser reads: a request body stream with ``readinto``."""

    def read(self, size: int = -1, /) -> bytes: ...

    def readinto(self, buffer: memoryview, /) -> int | None: ...


class FileFastLaneParser(MultiPartParser):
    """werkzeug's multipart parser, driving its sans-IO decoder as werkzeug does, with a
    fast lane for file content.

    Through the decoder, each byte of a file was copied five times under the GIL (into
    the decoder's buffer, out as a Data event, ...): the request thread then became the
    slower of an upload's two threads, and multipart ran 12% slower than a PUT. Here,
    once a file part's content starts, it is read in FORM_READ_BYTES blocks straight
    into one buffer and written to the part's stream from there; each block is only
    searched for ``--boundary``. The first block holding it (the end of the part, or
    those bytes within the content) is handed back to the decoder, which decides.
    Fields, headers and limits are the decoder's, as in werkzeug's parser.
    """

    def parse(  # type: ignore[override]
        self, stream: Readable, boundary: bytes, content_length: int | None
    ) -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
        decoder = MultipartDecoder(
            boundary, max_form_memory_size=self.max_form_memory_size, max_parts=self.max_form_parts
        )
        fields: list[tuple[str, str]] = []
        if isinstance(stream, HeadRecorder):
            stream.fields = fields
        files: list[tuple[str, FileStorage]] = []
        part: Field | File | None = None
        value = bytearray()  # the current field's
        sink: IO[bytes] | None = None  # the current file part's stream
        while True:
            decoder.receive_data(stream.read(self.buffer_size) or None)
            event = decoder.next_event()
            while not isinstance(event, Epilogue | NeedData):
                if isinstance(event, Field):
                    if len(fields) >= MAX_FORM_FIELDS:
                        raise RequestEntityTooLarge()
                    part, value = event, bytearray()
                elif isinstance(event, File):
                    part, sink = event, self.start_file_streaming(event, content_length)
                elif isinstance(event, Data) and isinstance(part, Field):
                    value += event.data
                    if self.max_form_memory_size and len(value) > self.max_form_memory_size:
                        raise RequestEntityTooLarge()
                    if not event.more_data:
                        charset = self.get_part_charset(part.headers)
                        fields.append((part.name, value.decode(charset, "replace")))
                elif isinstance(event, Data) and isinstance(part, File) and sink is not None:
                    sink.write(event.data)
                    if event.more_data:
                        decoder.receive_data(self._copy_content(stream, decoder, sink))
                    else:
                        sink.seek(0)
                        stored = FileStorage(sink, part.filename, part.name, headers=part.headers)
                        files.append((part.name, stored))
                event = decoder.next_event()
            if isinstance(event, Epilogue):  # only once the body has ended
                return self.cls(fields), self.cls(files)

    def _copy_content(self, stream: Readable, decoder: MultipartDecoder, sink: IO[bytes]) -> bytes:
        """Copy file content from ``stream`` to ``sink`` until a block holds the boundary
        or the body ends; the bytes not copied (for the decoder, whose buffer this takes)."""
        marker = b"--" + decoder.boundary
        tail = len(b"\r\n" + marker) - 1  # a boundary line may start in a block's last bytes
        held = len(decoder.buffer)
        # Reads start small and grow while the body comes fast, as copy_body's do: a
        # slow client's form costs 4 KiB of buffer, not 1 MiB.
        size = min(FIRST_READ_SIZE, self.buffer_size)
        view = memoryview(bytearray(max(held, tail) + size))
        view[:held] = decoder.buffer
        del decoder.buffer[:]
        arrived = 0
        while True:
            started = time.monotonic()
            count = stream.readinto(view[held : held + size]) or 0
            arrived += count
            end = held + count
            if end == held or view.obj.find(marker, 0, end) != -1:
                return bytes(view[:end])
            cut = max(end - tail, 0)
            sink.write(view[:cut])
            view[: end - cut] = view[cut:end]
            held = end - cut
            seconds = time.monotonic() - started
            grown = next_read_size(size, count, seconds, arrived, self.buffer_size)
            if grown != size:
                size = grown
                larger = memoryview(bytearray(tail + size))
                larger[:held] = view[:held]
                view = larger


class HeadRecorder:
    """The stream the form parser reads, passed through; keeps its first HEAD_BYTES and
    counts the bytes read, so a 413 can say which limit the request passed."""

    def __init__(self, stream: IO[bytes]):
        self._stream = stream
        self.head = bytearray()
        self.bytes_read = 0
        #: The form's fields read so far, set by the parser: a file part's upload opens
        #: with the ``folder`` and ``bundle`` sent before it.
        self.fields: list[tuple[str, str]] = []

    def reached(self, limit: int | None) -> bool:
        """Whether ``limit`` bytes (the largest body allowed) were read."""
        return limit is not None and self.bytes_read >= limit

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._record(data)
        return data

    def readinto(self, buffer: memoryview) -> int:
        count = self._stream.readinto(buffer) or 0  # type: ignore[attr-defined]
        self._record(buffer[:count])
        return count

    def _record(self, data: bytes | memoryview) -> None:
        self.bytes_read += len(data)
        if len(self.head) < HEAD_BYTES:
            self.head += data[: HEAD_BYTES - len(self.head)]


def last_part_size(head: bytes | bytearray, boundary: bytes, content_length: int) -> int | None:
    """The size of the first file part, if it is the body's last part and the body ends
    with the close delimiter and a line break (as curl, browsers and requests send it);
    None when ``head`` does not reach the file's content.

    werkzeug's own decoder finds where the content starts: while the part goes on past
    what it has decoded, it has consumed all of ``head`` but what it still buffers, and
    the first Data event's bytes are the content's first bytes. A file that ends within
    ``head`` needs no guess: its size is that of its data.
    """
    decoder = MultipartDecoder(boundary)
    decoder.receive_data(head)
    in_file = False
    try:
        while not isinstance(event := decoder.next_event(), NeedData | Epilogue):
            if isinstance(event, File):
                in_file = True
            elif in_file and isinstance(event, Data):
                if not event.more_data:
                    return len(event.data)
                start = len(head) - len(decoder.buffer) - len(event.data)
                size = content_length - start - len(b"\r\n--" + boundary + b"--\r\n")
                return size if size >= 0 else None
    except ValueError:  # a body werkzeug cannot read: the real parse will say why
        return None
    return None
