"""S3-compatible object storage (PAIMON_STORAGE=s3): stored files as objects in a bucket,
so every instance serves every file, with no shared disk.

boto3 does the protocol (signing, multipart uploads, retries); it reads the standard
AWS variables (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)
as they are. A stored object's name and size are its metadata, so a download needs
no sidecar; its key is a random token under the location's prefix (the link is the
secret, as for local files).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, unquote, urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

from paimon.storage.base import (
    Checkpoint,
    FoldersAsMetadata,
    ProgressCallback,
    ServedFile,
    StorageAuthError,
    StorageError,
    StorageUnavailable,
    StorageUsage,
    StoredFile,
)
from paimon.storage.local import _is_key

#: Each stored file goes up in parts of this size, PART_CONCURRENCY at a time: the
#: memory a transfer holds is at most their product (32 MiB), whatever the file's size.
PART_BYTES = 8 * 1024 * 1024
PART_CONCURRENCY = 4
#: Error codes S3 servers answer bad credentials with.
REFUSED_CREDENTIALS = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "InvalidToken"}
)
MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix``: a bucket and the key prefix (no leading or trailing
    slash; may be empty) under which objects are kept."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> S3Location:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"{url!r} is not an s3://bucket/prefix URL")
        return cls(parts.netloc, parts.path.strip("/"))

    def below(self, name: str) -> S3Location:
        """The location ``name`` under this one (stored files under the spool's)."""
        return S3Location(self.bucket, f"{self.prefix}/{name}".strip("/"))

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")


def s3_client(timeout_seconds: float = 20, attempts: int = 3) -> Any:
    """A client configured by the standard AWS variables, path-style (what MinIO,
    SeaweedFS and Ceph need; AWS and R2 take it too), with short timeouts so an
    unreachable bucket fails a request rather than hangs it."""
    return boto3.session.Session().client(
        "s3",
        config=Config(
            connect_timeout=timeout_seconds,
            read_timeout=timeout_seconds,
            retries={"max_attempts": attempts, "mode": "standard"},
            s3={"addressing_style": "path"},
        ),
    )


def missing_variables() -> list[str]:
    """The standard AWS variables a bucket needs that are unset (names only): the
    credentials, and a region unless boto3 has one from AWS_DEFAULT_REGION or a profile."""
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    missing = [name for name in names if not os.environ.get(name)]
    if not (os.environ.get("AWS_REGION") or boto3.session.Session().region_name):
        missing.insert(0, "AWS_REGION")
    return missing


def missing_credentials(location: S3Location) -> StorageAuthError:
    """boto3 found no credentials at all (no variables, profile or role): one line that
    names what to set, never a value."""
    names = missing_variables() or ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
    where = "" if os.environ.get("AWS_ENDPOINT_URL") else " (and AWS_ENDPOINT_URL unless it is AWS)"
    return StorageAuthError(
        f"No S3 credentials for {location}: set {listed}{where}, or an AWS profile."
    )


def storage_error(exc: Exception, location: S3Location) -> StorageError:
    """A boto error as the storage interface's: missing or refused credentials, a
    missing bucket (neither helped by retrying), or the server unreachable (retryable).
    One line, with no credential in it."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return missing_credentials(location)
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in REFUSED_CREDENTIALS:
            return StorageAuthError(
                f"The S3 server refused the credentials (AWS_ACCESS_KEY_ID, "
                f"AWS_SECRET_ACCESS_KEY) for {location}: {code}."
            )
        if code == "NoSuchBucket":
            return StorageError(f"The bucket of {location} does not exist.")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if status >= 500 or code in ("SlowDown", "RequestTimeout"):
            return StorageUnavailable(f"The S3 server failed ({code}) for {location}.")
        return StorageError(f"The S3 server refused the request for {location}: {code}.")
    return StorageUnavailable(f"The S3 server of {location} cannot be reached.")


class S3Storage(FoldersAsMetadata):
    """Stored files as objects under ``location`` (PAIMON_S3_STORAGE_URL, or the
    spool's location with ``files/`` below it)."""

    name = "s3"

    def __init__(self, location: S3Location, client: Any | None = None, presign_seconds: int = 0):
        self.location = location
        self.client = client if client is not None else s3_client()
        #: >0: downloads are redirects to presigned URLs valid this long (PAIMON_S3_DOWNLOADS).
        self.presign_seconds = presign_seconds
        self._transfer = TransferConfig(
            multipart_threshold=PART_BYTES,
            multipart_chunksize=PART_BYTES,
            max_concurrency=PART_CONCURRENCY,
        )

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (BotoCoreError, ClientError) as exc:
            raise storage_error(exc, self.location) from None

    def store(
        self,
        source: Path,
        filename: str,
        on_progress: ProgressCallback | None = None,
        *,
        job_id: str | None = None,
        resumed: bool = False,
        checkpoint: Checkpoint | None = None,
        folder: str | None = None,
    ) -> StoredFile:
        """Upload the spool file (multipart above PART_BYTES), or copy a spool object
        within the server (PAIMON_SPOOL_URL, same endpoint). The key is chosen once
        per job and kept in its checkpoint: an attempt after a crash writes the same key
        again, so a job never leaves two objects (an S3 upload is all or nothing). A
        ``folder`` is kept in the object's metadata, as local disk keeps it in the
        sidecar: objects stay under one prefix, named by their random key."""
        key = (checkpoint.load() if checkpoint and resumed else None) or secrets.token_urlsafe(16)
        if checkpoint is not None:
            checkpoint.save(key)
        size = source.stat().st_size
        sent = [0]

        def progress(count: int) -> None:  # boto3 reports each piece's bytes
            sent[0] += count
            if on_progress:
                on_progress(min(sent[0], size))

        metadata = {"filename": quote(filename), "size": str(size)}
        if job_id:
            metadata["job"] = job_id
        if folder is not None:
            metadata["folder"] = quote(folder)
        target = (self.location.bucket, self.location.key(key))
        with self._errors():
            if isinstance(source, Path):
                self.client.upload_file(
                    str(source),
                    *target,
                    ExtraArgs={"Metadata": metadata},
                    Callback=progress,
                    Config=self._transfer,
                )
            else:  # a spool object (PAIMON_SPOOL_URL): copied by the server, no bytes here
                self.client.copy(
                    {"Bucket": source.bucket, "Key": source.key},  # type: ignore[attr-defined]
                    *target,
                    ExtraArgs={"Metadata": metadata, "MetadataDirective": "REPLACE"},
                    Callback=progress,
                    Config=self._transfer,
                )
        if on_progress:
            on_progress(size)
        return StoredFile(key=key, filename=filename, size=size, link=None)

    def open(self, key: str) -> ServedFile | None:
        """The object's name, size, ETag and time (one HEAD), and how to read it."""
        if not _is_key(key):
            return None
        object_key = self.location.key(key)
        try:
            with self._errors():
                head = self.client.head_object(Bucket=self.location.bucket, Key=object_key)
        except StorageError as exc:
            if isinstance(exc.__context__, ClientError) and _code(exc.__context__) in MISSING:
                return None
            raise
        size = int(head["ContentLength"])
        return ServedFile(
            path=None,
            filename=unquote(head.get("Metadata", {}).get("filename", key)),
            size=size,
            reader=lambda: S3ObjectReader(self, object_key, size),
            etag=str(head.get("ETag", "")).strip('"') or None,
            modified=head["LastModified"].timestamp() if head.get("LastModified") else None,
            redirect=self._presigned(object_key) if self.presign_seconds else None,
        )

    def _presigned(self, object_key: str) -> str:
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.location.bucket, "Key": object_key},
            ExpiresIn=self.presign_seconds,
        )

    def read_range(self, object_key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (inclusive) of an object: one ranged GET."""
        with self._errors():
            reply = self.client.get_object(
                Bucket=self.location.bucket, Key=object_key, Range=f"bytes={start}-{end}"
            )
            return reply["Body"].read()

    def delete(self, key: str) -> None:
        if _is_key(key):
            with self._errors():
                self.client.delete_object(Bucket=self.location.bucket, Key=self.location.key(key))

    def check(self) -> None:
        """The bucket answers these credentials (one HEAD of the bucket)."""
        with self._errors():
            self.client.head_bucket(Bucket=self.location.bucket)

    def usage(self) -> StorageUsage | None:
        """Not tracked: a bucket has no free space to tell."""
        return None


class S3ObjectReader:
    """A stored object as a seekable, read-only file: werkzeug's send_file serves it
    with Range and conditional requests as it serves a local file, and each read is one
    ranged GET of at most the size asked (werkzeug asks 8 KiB at a time; reads are
    batched into READ_AHEAD_BYTES so a large download is not thousands of requests)."""

    READ_AHEAD_BYTES = 4 * 1024 * 1024

    def __init__(self, storage: S3Storage, object_key: str, size: int):
        self._storage = storage
        self._key = object_key
        self._size = size
        self._position = 0
        self._buffer = b""
        self._buffer_start = 0
        self.closed = False

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._position, 2: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1) -> bytes:
        if self._position >= self._size:
            return b""
        want = self._size - self._position if size < 0 else min(size, self._size - self._position)
        offset = self._position - self._buffer_start
        if not offset >= 0 or offset + want > len(self._buffer):
            end = min(self._position + max(want, self.READ_AHEAD_BYTES), self._size) - 1
            self._buffer = self._storage.read_range(self._key, self._position, end)
            self._buffer_start, offset = self._position, 0
        data = self._buffer[offset : offset + want]
        self._position += len(data)
        return data

    def close(self) -> None:
        self.closed = True
        self._buffer = b""

    def __enter__(self) -> BinaryIO:
        return self  # type: ignore[return-value]

    def __exit__(self, *exc: object) -> None:
        self.close()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
