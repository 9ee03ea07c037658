"""The one way the use cases refuse a request, so every layer below the web one can
refuse without knowing HTTP; and the job store as request handlers use it."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from paimon.jobs.store import JobStore, StoreDiskFull, StoreUnavailable


class UploadRefused(Exception):
    """A request about an upload that this server will not carry out: ``error`` names
    the kind (the web layer's error table decides its status code), ``message`` is for a
    person, ``details`` are more fields of the reply for a program."""

    def __init__(self, error: str, message: str, details: Mapping[str, object] | None = None):
        super().__init__(message)
        self.error, self.message = error, message
        self.details: Mapping[str, object] = details or {}


class UnknownService(UploadRefused):
    """The client asked for a storage service this server does not offer."""

    def __init__(self, requested: str, supported: list[str]):
        super().__init__(
            "unknown_service",
            f"Unknown service '{requested}'. This server supports: {', '.join(supported)}.",
            {"supported_services": supported},
        )
        self.supported = supported


STORE_DOWN = (
    "The server cannot reach its job store right now; nothing of this request was kept. "
    "Try again in a few seconds."
)
DISK_FULL = (
    "The server's disk is full: nothing of this request was kept. Try again later (an "
    "unfinished tus upload resumes from where it stands)."
)


class RefusingStore:
    """The job store as request handlers use it: when the store is unreachable
    (StoreUnavailable) the request is refused as ``store_unavailable`` (503), not failed
    as a server bug. The transfers' own threads use the store directly."""

    def __init__(self, store: JobStore):
        self._store = store

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attribute(*args, **kwargs)
            except StoreDiskFull as exc:  # the disk uploads fill: 507, as the spool's is
                raise UploadRefused("server_full", DISK_FULL) from exc
            except StoreUnavailable as exc:
                raise UploadRefused("store_unavailable", STORE_DOWN) from exc

        return call
