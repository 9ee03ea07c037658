"""The one way the use cases refuse a request, so every layer below the web one can
refuse without knowing HTTP; and the job store as request handlers use it."""

from __future__ import annotations

import functools
from typing import Any

from paimon.jobs.store import JobStore, StoreDiskFull, StoreUnavailable


class UploadRefused(Exception):
    """A request about an upload that this server will not carry out: ``error`` names
    the kind (the web layer decides its status code), ``message`` is for a person."""

    def __init__(self, error: str, message: str):
        super().__init__(message)
        self.error, self.message = error, message


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
