"""The MEGA storage backend: spool file in, public MEGA link out."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from paimon.storage.base import (
    Checkpoint,
    ProgressCallback,
    StorageError,
    StorageUsage,
    StoredFile,
    WaitForBytes,
)
from paimon.storage.mega.attributes import AttributeMaker
from paimon.storage.mega.client import MegaClient
from paimon.storage.mega.codes import ENOENT
from paimon.storage.mega.crypto import NodeKey, make_link
from paimon.storage.mega.errors import MEGA_FAILURES, MegaApiError, RetryPolicy, storage_error
from paimon.storage.mega.folders import FolderTree
from paimon.storage.mega.session import MIN_LOGIN_INTERVAL_SECONDS, SessionStore
from paimon.storage.mega.uploader import DEFAULT_CONNECTIONS, DEFAULT_MAX_POST, Uploader

log = logging.getLogger(__name__)


@contextmanager
def _storage_errors() -> Iterator[None]:
    """Let only StorageError (with a message for a person) out of the backend."""
    try:
        yield
    except StorageError:
        raise
    except MEGA_FAILURES as exc:
        raise storage_error(exc) from exc


@dataclass(frozen=True)
class MegaAccount:
    """What the MEGA backend needs of the settings, and nothing more (the composition
    root, paimon/bootstrap/wiring.py, reads them)."""

    api_url: str
    email: str
    password: SecretStr
    folder: str
    session_dir: Path  # the instance's saved session, shared by its workers
    totp_secret: SecretStr | None = None
    upload_connections: int = DEFAULT_CONNECTIONS
    thumbnails: bool = True  # images get a thumbnail and a preview, as MEGA's apps make


class MegaStorage:
    """Stores uploads in the ``folder`` of one MEGA account.

    Nothing touches the network until the first ``check()``, ``store()`` or ``usage()``;
    the folder's handle is then kept for the life of the process, the session for the
    instance's (``<data dir>/mega/``, shared by its workers and across restarts).
    """

    name = "mega"

    def __init__(
        self,
        account: MegaAccount,
        *,
        retry: RetryPolicy | None = None,
        max_post_bytes: int = DEFAULT_MAX_POST,
        min_login_interval: float = MIN_LOGIN_INTERVAL_SECONDS,
    ):
        self._client = MegaClient(
            account.api_url,
            account.email,
            account.password,
            retry=retry,
            totp_secret=account.totp_secret,
            store=SessionStore(account.session_dir, min_login_interval),
        )
        self._uploader = Uploader(
            self._client, max_post_bytes=max_post_bytes, connections=account.upload_connections
        )
        self._attributes = AttributeMaker(self._client, enabled=account.thumbnails)
        self._folder_name = account.folder
        self._folders = FolderTree(self._client, account.folder)

    def _folder_handle(self, stale: str | None = None, folder: str | None = None) -> str:
        """The upload folder, or the ``folder`` path below it (``a/b``), found or
        created on first use, then cached (folders.py: one folder of a name even when
        several processes create it at once). ``stale`` is a handle MEGA no longer
        knows (the folder was deleted): look again."""
        return self._folders.handle(folder, stale)

    def folder_path(self, folder: str) -> str:
        """StoresInFolders: an upload's folder is below the upload folder."""
        return f"{self._folder_name}/{folder}"

    def folder_link(self, folder: str) -> str:
        """StoresInFolders: ``folder`` exported as MEGA's apps do (a new share key,
        ``s2`` to the export pseudo-user, ``l``): a public link to it and its files."""
        with _storage_errors():
            return self._client.export_folder(self._folder_handle(folder=folder))

    def _create_file(
        self,
        completion_handle: str,
        filename: str,
        key: NodeKey,
        job_id: str | None,
        folder: str | None,
    ) -> str:
        parent = self._folder_handle(folder=folder)
        try:
            return self._client.create_file_node(parent, completion_handle, filename, key, job_id)
        except MegaApiError as exc:
            if exc.code != ENOENT:
                raise
        parent = self._folder_handle(stale=parent, folder=folder)
        return self._client.create_file_node(parent, completion_handle, filename, key, job_id)

    def _adopt(self, job_id: str, folder: str | None) -> StoredFile | None:
        """The file node an earlier attempt of this job created in the upload folder
        (its encrypted attributes carry the job id), as a StoredFile; None if there is
        none. A node exists only once MEGA had the whole file (``p`` comes after the
        upload), so adopting it never adopts a partial object."""
        node = self._client.find_job_node(self._folder_handle(folder=folder), job_id)
        if node is None:
            return None
        handle, filename, size, key = node
        link = make_link(self._client.public_handle(handle), key)
        log.info("Adopted MEGA node %s, created by an earlier attempt of this job", handle)
        return StoredFile(key=handle, filename=filename, size=size, link=link)

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
        """Upload ``source`` as ``filename`` (into ``folder``, inside the upload folder,
        when given); ``source`` is left for the caller to delete. A resumed job adopts
        the node an earlier attempt created (see ``_adopt``), or else continues the
        earlier attempt's upload from its ``checkpoint``."""
        if resumed and job_id is not None:
            with _storage_errors():
                adopted = self._adopt(job_id, folder)
            if adopted is not None:
                if on_progress:
                    on_progress(adopted.size)
                return adopted
        return self._store(
            source, filename, on_progress, job_id, checkpoint=checkpoint, folder=folder
        )

    def store_growing(
        self,
        source: Path,
        filename: str,
        size: int,
        wait_for_bytes: WaitForBytes,
        on_progress: ProgressCallback | None = None,
        *,
        job_id: str | None = None,
        checkpoint: Checkpoint | None = None,
        folder: str | None = None,
    ) -> StoredFile:
        """Upload ``source`` while it is still being received (pipelining)."""
        return self._store(
            source,
            filename,
            on_progress,
            job_id,
            size,
            wait_for_bytes,
            checkpoint=checkpoint,
            folder=folder,
        )

    def _store(
        self,
        source: Path,
        filename: str,
        on_progress: ProgressCallback | None,
        job_id: str | None,
        size: int | None = None,
        wait_for_bytes: WaitForBytes | None = None,
        *,
        checkpoint: Checkpoint | None = None,
        folder: str | None = None,
    ) -> StoredFile:
        with _storage_errors():
            self._folder_handle(folder=folder)  # first: a bad login or folder costs no bytes
            upload = self._uploader.upload(
                source,
                on_progress,
                size=size,
                wait_for_bytes=wait_for_bytes,
                checkpoint=checkpoint,
            )
            handle = self._create_file(
                upload.completion_handle, filename, upload.node_key, job_id, folder
            )
            link = make_link(self._client.public_handle(handle), upload.node_key)
        log.info("Stored %d bytes in MEGA as node %s", upload.size, handle)
        self._attributes.submit(source, handle, upload.node_key)  # in the background
        return StoredFile(key=handle, filename=filename, size=upload.size, link=link)

    def delete(self, key: str) -> None:
        """Remove the file node ``key`` (MEGA's ``d`` command, as the SDK's
        CommandDelNode sends it); a node already gone (-9, ENOENT) is not an error."""
        with _storage_errors():
            try:
                self._client.call({"a": "d", "n": key})
            except MegaApiError as exc:
                if exc.code != ENOENT:
                    raise

    def check(self) -> None:
        """Log in and find the folder (both once per process); StorageError if not possible."""
        with _storage_errors():
            self._folder_handle()

    def usage(self) -> StorageUsage:
        with _storage_errors():
            quota = self._client.call({"a": "uq", "xfer": 1, "strg": 1})
        return StorageUsage(used_bytes=quota["cstrg"], total_bytes=quota["mstrg"])
