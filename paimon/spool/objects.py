"""The spool in S3-compatible object storage (PAIMON_SPOOL_URL=s3://bucket/prefix): upload
bodies stream into multipart uploads, so any instance takes over, resumes or retries
any job, and continues any tus upload, with no shared disk.

A job names its spool object by URL (``s3://bucket/prefix/up-<hex>``) where a local
spool names a path; ``ObjectSpool.source`` gives the transfer something that reads
like the spool file it replaces (``stat().st_size``, ``open('rb')`` with ranged GETs),
which is all a backend asks of its source.

Memory: each body holds one part buffer (PART_BYTES) while it arrives, never the body.
A tus upload keeps its state beside its object, as tusd's s3store does: ``<key>.info``
(the multipart upload and the parts every finished PATCH committed) and
``<key>.part`` (the tail of the last PATCH, shorter than S3's 5 MiB minimum part, which
the next PATCH prepends); its offset is what they hold.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from paimon.spool.bodies import READ_SIZE
from paimon.spool.writer import ReceiveAborted, SpoolUnavailable
from paimon.storage.base import StorageAuthError
from paimon.storage.s3 import S3Location, s3_client, storage_error

#: The part size of a spool object's multipart upload: the buffer each arriving body
#: holds (S3 wants parts of 5 MiB at least, but the last).
PART_BYTES = 8 * 1024 * 1024
INFO_SUFFIX = ".info"
TAIL_SUFFIX = ".part"
MISSING = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchUpload"})


@contextmanager
def bucket_errors(location: object) -> Iterator[None]:
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        said = storage_error(exc, location)  # type: ignore[arg-type]
        if isinstance(said, StorageAuthError):  # no or refused credentials: what to set
            raise SpoolUnavailable(str(said)) from None
        code = _code(exc) if isinstance(exc, ClientError) else type(exc).__name__
        raise SpoolUnavailable(f"The spool's bucket {location} failed: {code}.") from None


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class PartBuffer:
    """The one buffer of a body on its way to a multipart upload: filled in place, and
    handed whole to ``send`` each time it is full (boto3 reads it before returning, so
    it is reused at once); a body never costs more than PART_BYTES here, and a small
    one only the pages it touched."""

    def __init__(self, send: Callable[[bytearray], None], initial: bytes = b""):
        self._send = send
        self._data = bytearray(PART_BYTES)
        self.size = 0
        self.add(initial)

    def add(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            take = min(len(view), PART_BYTES - self.size)
            self._data[self.size : self.size + take] = view[:take]
            self.size += take
            view = view[take:]
            if self.size == PART_BYTES:
                self._send(self._data)
                self.size = 0

    def rest(self) -> bytes:
        """What is left, shorter than a part."""
        return bytes(self._data[: self.size])

    def drop(self) -> None:
        self._data = bytearray()
        self.size = 0


@dataclass(frozen=True)
class SpoolStat:
    st_size: int


class ObjectReader(io.RawIOBase):
    """A spool object read as a raw file: each ``readinto`` is one ranged GET of the
    bytes asked (the MEGA uploader asks a POST's worth at a time)."""

    def __init__(self, spool: ObjectSpool, key: str, size: int):
        self._spool, self._key, self._size = spool, key, size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        count = min(len(view), self._size - self._position)
        if count <= 0:
            return 0
        end = self._position + count - 1
        with bucket_errors(self._spool.location):
            body = self._spool.client.get_object(
                Bucket=self._spool.location.bucket,
                Key=self._key,
                Range=f"bytes={self._position}-{end}",
            )["Body"]
            filled = 0
            while filled < count:
                piece = body.read(min(count - filled, READ_SIZE))
                if not piece:
                    break
                view[filled : filled + len(piece)] = piece
                filled += len(piece)
        self._position += filled
        return filled


class SpoolObject:
    """A finished spool object, as a transfer reads it: what a backend asks of a spool
    file's Path (``exists``, ``stat``, ``open``), and its bucket and key, which an S3
    backend copies from server-side instead of reading the bytes."""

    def __init__(self, spool: ObjectSpool, url: str):
        self.spool = spool
        self.url = url
        self.key = spool.key_of(url)
        self.bucket = spool.location.bucket
        self.name = self.key.rsplit("/", 1)[-1]

    def __str__(self) -> str:
        return self.url

    def _head(self) -> dict | None:
        with bucket_errors(self.spool.location):
            try:
                return self.spool.client.head_object(Bucket=self.bucket, Key=self.key)
            except ClientError as exc:
                if _code(exc) in MISSING:
                    return None
                raise

    def exists(self) -> bool:
        return self._head() is not None

    def stat(self) -> SpoolStat:
        head = self._head()
        if head is None:
            raise FileNotFoundError(self.url)
        return SpoolStat(int(head["ContentLength"]))

    def open(self, mode: str = "rb", buffering: int = -1) -> io.RawIOBase:
        assert mode == "rb"
        reader = ObjectReader(self.spool, self.key, self.stat().st_size)
        return reader if buffering == 0 else io.BufferedReader(reader, PART_BYTES)  # type: ignore[return-value]


class ObjectSpoolWriter:
    """A body streamed into a spool object: buffered up to PART_BYTES, each full buffer
    sent as one part of a multipart upload (begun at the first full part; a body that
    never fills one is a single PUT at the end). Counts and hashes as SpoolWriter does;
    the object exists, complete and durable, once ``finish`` returns."""

    def __init__(
        self,
        spool: ObjectSpool,
        url: str,
        on_progress: Callable[[int], None] | None,
        expected_size: int | None,
    ):
        self._spool = spool
        self.path = url  # what the job records, and reservations are keyed by
        self.name = url
        self._key = spool.key_of(url)
        self.expected_size = expected_size
        self._on_progress = on_progress
        self._sha256 = hashlib.sha256()
        self._buffer = PartBuffer(self._send_part)
        self._upload_id: str | None = None
        self._parts: list[dict] = []
        self.bytes_written = 0
        self._reported = 0
        self._ended = False
        self.closed = False
        self._lock = threading.Lock()

    def write(self, data: bytes | memoryview) -> int:
        self._buffer.add(data)
        self._sha256.update(data)
        self.bytes_written += len(data)
        if self._on_progress and self.bytes_written - self._reported >= PART_BYTES:
            self._reported = self.bytes_written
            self._on_progress(self.bytes_written)
        return len(data)

    def _send_part(self, data: bytes | bytearray) -> None:
        bucket, client = self._spool.location.bucket, self._spool.client
        with bucket_errors(self._spool.location):
            if self._upload_id is None:
                self._upload_id = client.create_multipart_upload(Bucket=bucket, Key=self._key)[
                    "UploadId"
                ]
            number = len(self._parts) + 1
            reply = client.upload_part(
                Bucket=bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=data
            )
        self._parts.append({"PartNumber": number, "ETag": reply["ETag"]})

    def seek(self, offset: int, whence: int = 0) -> int:
        """werkzeug rewinds a form's file part when it ends: nothing to do here."""
        return self.bytes_written if whence else offset

    def tell(self) -> int:
        return self.bytes_written

    def wait_for_bytes(self, count: int) -> None:
        """Never called: an object spool stores nothing while the body arrives."""
        raise ReceiveAborted("a spool object is read only once complete")

    def finish(self, fsync: bool = True) -> tuple[int, str]:
        """Send the last part and complete the object (S3 makes it durable)."""
        with bucket_errors(self._spool.location):
            self._spool.complete(
                self._key, self._upload_id, self._parts, self._buffer.rest(), self._send_part
            )
        self._buffer.drop()
        self._ended = self.closed = True
        return self.bytes_written, self._sha256.hexdigest()

    def close(self) -> None:
        """Give the body up: the multipart upload, if begun, is aborted."""
        if self._ended:
            return
        self._ended = self.closed = True
        self._buffer.drop()
        if self._upload_id is not None:
            self._spool.abort(self._key, self._upload_id)


class ObjectAppender:
    """One tus PATCH appended to a spool object (what AppendWriter is to a file).

    The last PATCH's short tail (``<key>.part``) is prepended; full parts go up as they
    fill; at ``close`` the parts are committed to ``<key>.info`` and a short tail kept
    as ``<key>.part``, or, once the upload reached its length, the object completed.
    A PATCH cut off by a crash commits nothing: the upload goes on from the offset the
    last finished PATCH committed (parts it sent are overwritten by the next).
    """

    def __init__(
        self,
        spool: ObjectSpool,
        url: str,
        before_write: Callable[[int], None],
        hashed: bool,
        length: int,
    ):
        self._spool = spool
        self._key = spool.key_of(url)
        self._before_write = before_write
        self.sha256 = hashlib.sha256() if hashed else None
        self.written = 0
        self._length = length
        self._info = spool.tus_info(url)
        self._committed = sum(part["Size"] for part in self._info["parts"])
        self._parts = list(self._info["parts"])
        self._buffer = PartBuffer(self._send_part, spool.tail(self._key))
        self._discarded = False
        self._closed = False

    def write(self, data: bytes | memoryview) -> int:
        self._before_write(self.written)
        self._buffer.add(data)
        if self.sha256 is not None:
            self.sha256.update(data)
        self.written += len(data)
        return len(data)

    def _send_part(self, data: bytes | bytearray) -> None:
        client, bucket = self._spool.client, self._spool.location.bucket
        with bucket_errors(self._spool.location):
            if not self._info.get("upload"):
                self._info["upload"] = client.create_multipart_upload(Bucket=bucket, Key=self._key)[
                    "UploadId"
                ]
            number = len(self._parts) + 1
            reply = client.upload_part(
                Bucket=bucket,
                Key=self._key,
                UploadId=self._info["upload"],
                PartNumber=number,
                Body=data,
            )
        self._parts.append({"PartNumber": number, "ETag": reply["ETag"], "Size": len(data)})

    def truncate(self, size: int) -> None:
        """Drop this PATCH whole (it went past the upload's length, or the bucket failed)."""
        self._discarded = True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._discarded:
            return
        total = sum(part["Size"] for part in self._parts) + self._buffer.size
        spool, client, bucket = self._spool, self._spool.client, self._spool.location.bucket
        with bucket_errors(spool.location):
            if total >= self._length:
                upload = self._info.get("upload")
                spool.complete(self._key, upload, self._parts, self._buffer.rest(), self._send_part)
                spool.forget_tus_state(self._key)
                return
            client.put_object(Bucket=bucket, Key=self._key + TAIL_SUFFIX, Body=self._buffer.rest())
            self._info["parts"] = self._parts
            spool.save_tus_info(self._key, self._info)


class ObjectSpool:
    """Spool objects under one location; the local directory (``directory``) keeps only
    what is this machine's own (the reservations ledger, readiness probes)."""

    PREFIX = "up-"
    #: An object spool stores nothing while a body arrives: a multipart upload cannot be
    #: read before it completes, so transfers start once the body is complete.
    readable_while_growing = False

    def __init__(self, location: S3Location, directory: Any, client: Any | None = None):
        self.location = location
        self.directory = directory
        self.client = client if client is not None else s3_client()

    def complete(
        self,
        key: str,
        upload_id: str | None,
        parts: list[dict],
        rest: bytes,
        send_part: Callable[[bytes], None],
    ) -> None:
        """Make a body's object whole: one PUT when no part went up (``upload_id``
        None), else ``rest`` sent as the last part (``send_part`` adds it to ``parts``)
        and the multipart upload completed."""
        if upload_id is None:
            self.client.put_object(Bucket=self.location.bucket, Key=key, Body=rest)
            return
        if rest or not parts:
            send_part(rest)
        self.client.complete_multipart_upload(
            Bucket=self.location.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]
            },
        )

    @property
    def bucket_url(self) -> str:
        """``s3://bucket/prefix``: no endpoint, no credential."""
        return str(self.location)

    def reach(self) -> str:
        """The bucket answers these credentials (readiness, doctor): what to say, or a
        StorageError in one line that names the variables, never their values."""
        try:
            self.client.head_bucket(Bucket=self.location.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise storage_error(exc, self.location) from None
        return f"{self.location} answers (object storage)"

    def url_of(self, name: str) -> str:
        return f"s3://{self.location.bucket}/{self.location.key(name)}"

    def key_of(self, url: str) -> str:
        prefix = f"s3://{self.location.bucket}/"
        if not str(url).startswith(prefix):
            raise ValueError(f"{url} is not in this spool's bucket")
        return str(url)[len(prefix) :]

    def owns(self, spool_path: str) -> bool:
        return spool_path.startswith(f"s3://{self.location.bucket}/")

    def new_writer(
        self,
        on_progress: Callable[[int], None] | None = None,
        expected_size: int | None = None,
    ) -> ObjectSpoolWriter:
        url = self.url_of(f"{self.PREFIX}{secrets.token_hex(16)}")
        return ObjectSpoolWriter(self, url, on_progress, expected_size)

    def source(self, spool_path: str) -> SpoolObject:
        return SpoolObject(self, spool_path)

    # Room: a bucket has no free space to tell ------------------------------------------

    def free_bytes(self) -> int:
        """A bucket has no free space to read: the room is unbounded here (a quota is
        the provider's, and a full one fails the upload as the bucket refusing it)."""
        return 2**62

    def has_room_for(self, size: int, floor: int) -> bool:
        return True

    @staticmethod
    def make_durable(path: object) -> None:
        """A completed object is durable already."""

    def files(self) -> list:
        """Leftover spool objects are left to the bucket's lifecycle rules (an abandoned
        multipart upload, too): none is listed for deletion here."""
        return []

    def delete(self, path: object) -> None:
        """The spool object and, for a tus upload, its state and multipart upload."""
        key = self.key_of(str(path))
        with bucket_errors(self.location):
            info = self._read_json(key + INFO_SUFFIX)
            if info and info.get("upload"):
                self.abort(key, info["upload"])
            self.forget_tus_state(key)
            self.client.delete_object(Bucket=self.location.bucket, Key=key)

    def abort(self, key: str, upload_id: str) -> None:
        # Gone already, or the bucket is away: its lifecycle rule for incomplete
        # multipart uploads has the rest.
        with contextlib.suppress(BotoCoreError, ClientError):
            self.client.abort_multipart_upload(
                Bucket=self.location.bucket, Key=key, UploadId=upload_id
            )

    # tus uploads -------------------------------------------------------------------

    def begin_append(self, spool_path: str) -> None:
        """A new tus upload: its state object, with no part yet."""
        self.save_tus_info(self.key_of(spool_path), {"upload": None, "parts": []})

    def appender(
        self, spool_path: str, before_write: Callable[[int], None], hashed: bool, length: int
    ) -> ObjectAppender:
        return ObjectAppender(self, spool_path, before_write, hashed, length)

    def offset(self, spool_path: str) -> int | None:
        """Bytes a tus upload holds: its committed parts and tail, or the whole object
        once complete; None when it has neither (gone)."""
        key = self.key_of(spool_path)
        with bucket_errors(self.location):
            info = self._read_json(key + INFO_SUFFIX)
            if info is None:
                source = self.source(spool_path)
                return source.stat().st_size if source.exists() else None
            return sum(part["Size"] for part in info["parts"]) + len(self.tail(key))

    def sha256(self, spool_path: str) -> str:
        digest = hashlib.sha256()
        with self.source(spool_path).open("rb") as stream:
            while chunk := stream.read(READ_SIZE):
                digest.update(chunk)
        return digest.hexdigest()

    def tus_info(self, url: str) -> dict:
        with bucket_errors(self.location):
            info = self._read_json(self.key_of(url) + INFO_SUFFIX)
        return info if info is not None else {"upload": None, "parts": []}

    def save_tus_info(self, key: str, info: dict) -> None:
        with bucket_errors(self.location):
            self.client.put_object(
                Bucket=self.location.bucket,
                Key=key + INFO_SUFFIX,
                Body=json.dumps(info).encode(),
            )

    def tail(self, key: str) -> bytes:
        with bucket_errors(self.location):
            data = self._read(key + TAIL_SUFFIX)
        return data or b""

    def forget_tus_state(self, key: str) -> None:
        for suffix in (TAIL_SUFFIX, INFO_SUFFIX):
            self.client.delete_object(Bucket=self.location.bucket, Key=key + suffix)

    def _read(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.location.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if _code(exc) in MISSING:
                return None
            raise

    def _read_json(self, key: str) -> dict | None:
        data = self._read(key)
        return json.loads(data) if data is not None else None
