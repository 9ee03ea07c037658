"""Upload links (file requests) as use cases: the owner makes, lists and revokes them;
whoever holds a link's URL uploads through it, without a token, within its limits and
nothing else.

A link's URL ends in a random token (192 bits). The job store keeps its SHA-256 digest,
by which a request finds the link, and the token sealed under the install's secret, so
the owner's console can show the URL again; neither lets a copy of the store upload.

Every limit is checked before a body is read: the link must be neither revoked nor
expired, and one more file and the body's declared length (``Content-Length``) must
fit in what the link has left. Both are taken at once (``claim``, atomic in the store
across every worker and instance), so of many uploads at once exactly as many are let
in as the link allows; what an upload took is given back if it does not complete, and
the bytes a multipart body held beyond its files (its part headers) once it has.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from dataclasses import dataclass

from paimon.jobs.links import LinkNotFound, LinkRefused, UploadLink, UploadLinkStore
from paimon.storage.base import StorageBackend, StoresInFolders
from paimon.uploads.checkpoints import Sealer
from paimon.uploads.deletion import digest_of
from paimon.uploads.folders import BadFolder, clean_folder
from paimon.uploads.keeping import Keep, KeepPolicy, utc_text
from paimon.uploads.origins import Origin
from paimon.uploads.refusals import RefusingStore, UploadRefused

TOKEN_BYTES = 24  # 192 random bits
SEAL_PURPOSE = b"paimon upload link tokens"
MAX_LABEL_CHARS = 100
MAX_EXPIRY_SECONDS = 10 * 366 * 86_400
MAX_DAYS = 1_000_000  # as Max-Days itself (paimon/web/headers.py)
MAX_COUNT = 2**62 - 1


@dataclass(frozen=True)
class LinkSpec:
    """What the owner asks of a new link; every field optional (None: no limit)."""

    label: str | None = None
    expires_in_seconds: float | None = None
    max_files: int | None = None
    max_file_bytes: int | None = None
    max_total_bytes: int | None = None
    max_days: float | None = None
    folder: str | None = None


def _is_text(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _bad(message: str) -> UploadRefused:
    return UploadRefused("bad_upload_link", message)


class LinkClaim:
    """What one request took from a link: given back when the upload does not complete
    (``give_back``), settled to the bytes stored when it does (``keep``)."""

    def __init__(self, store: UploadLinkStore, link: UploadLink, nbytes: int):
        self._store = store
        self.link = link  # as it stood once counted
        self._files, self._bytes = 1, nbytes
        self._settled = False
        self._lock = threading.Lock()

    def more_files(self, count: int) -> None:
        """Take ``count`` more files (a multipart body's other files), or refuse."""
        if count > 0:
            self.link = _claimed(self._store, self.link, count, 0)
            self._files += count

    def keep(self, stored_bytes: int) -> None:
        """The upload is complete: it keeps its files, and ``stored_bytes`` bytes (what
        was claimed beyond them is given back; a body of unknown length adds them)."""
        with self._lock:
            if not self._settled:
                self._settled = True
                self._store.release_link(self.link.id, 0, self._bytes - stored_bytes)

    def give_back(self) -> None:
        """The upload did not complete: everything it took goes back to the link."""
        with self._lock:
            if not self._settled:
                self._settled = True
                self._store.release_link(self.link.id, self._files, self._bytes)


def _claimed(store: UploadLinkStore, link: UploadLink, files: int, nbytes: int) -> UploadLink:
    try:
        return store.claim_link(link.id, files, nbytes, time.time())
    except LinkNotFound:
        raise UploadRefused("link_not_found", NOT_FOUND) from None
    except LinkRefused as refused:
        raise _refusal(refused.reason, refused.link, nbytes) from None


NOT_FOUND = (
    "No upload link has this address: check that it was copied whole, or ask its owner "
    "for a new one."
)


def _refusal(reason: str, link: UploadLink, nbytes: int = 0) -> UploadRefused:
    """Why a link takes no more (410: it never will), or not this much (413)."""
    if reason == "revoked":
        return UploadRefused("link_revoked", "This upload link was revoked by its owner.")
    if reason == "expired":
        when = utc_text(link.expires_at or 0.0)
        return UploadRefused("link_expired", f"This upload link expired at {when}.")
    if reason == "files":
        return UploadRefused(
            "link_used_up",
            f"This upload link has taken all the files it allows ({link.max_files}).",
        )
    left = link.bytes_left() or 0
    if left == 0:
        return UploadRefused(
            "link_used_up",
            f"This upload link has taken all the bytes it allows ({link.max_total_bytes:,}).",
        )
    return UploadRefused(
        "link_too_large",
        f"This upload ({nbytes:,} bytes) is larger than this link still takes: at most "
        f"{left:,} bytes more.",
    )


class UploadLinks:
    """The upload link use cases, free of HTTP."""

    def __init__(
        self,
        store: UploadLinkStore,
        install_secret: bytes,
        storage: StorageBackend,
        keeping: KeepPolicy,
    ):
        self._store: UploadLinkStore = RefusingStore(store)  # type: ignore[assignment]
        self._sealer = Sealer(install_secret, SEAL_PURPOSE)
        self._storage = storage
        self._keeping = keeping

    # The owner's ----------------------------------------------------------------------

    def create(self, spec: LinkSpec, created_by: str | None) -> tuple[UploadLink, str]:
        """A new link as ``spec`` asks, made by the owner labelled ``created_by``; the
        link and its URL's token. UploadRefused ``bad_upload_link`` for a limit that
        makes no sense, ``folder_unsupported`` for a folder without MEGA."""
        self._validate(spec)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = time.time()
        expires = None if spec.expires_in_seconds is None else now + spec.expires_in_seconds
        while True:
            link = UploadLink(
                id=secrets.token_urlsafe(9),
                token_digest=digest_of(token),
                label=spec.label,
                created_at=now,
                created_by=created_by,
                expires_at=expires,
                max_files=spec.max_files,
                max_file_bytes=spec.max_file_bytes,
                max_total_bytes=spec.max_total_bytes,
                max_days=spec.max_days,
                folder=clean_folder(spec.folder) if spec.folder is not None else None,
                sealed_token=self._sealer.seal(token),
            )
            try:
                self._store.create_link(link)
            except ValueError:  # an id drawn twice: draw again
                continue
            return link, token

    def _validate(self, spec: LinkSpec) -> None:
        for name in ("label", "folder"):
            text = getattr(spec, name)
            if text is not None and not _is_text(text):
                raise _bad(f"'{name}' must be text (no lone surrogates).")
        if spec.label is not None and not 0 < len(spec.label) <= MAX_LABEL_CHARS:
            raise _bad(f"'label' must be 1 to {MAX_LABEL_CHARS} characters.")
        if spec.expires_in_seconds is not None and not (
            math.isfinite(spec.expires_in_seconds)
            and 0 < spec.expires_in_seconds <= MAX_EXPIRY_SECONDS
        ):
            raise _bad(f"'expires_in_seconds' must be above 0 and at most {MAX_EXPIRY_SECONDS}.")
        for name in ("max_files", "max_file_bytes", "max_total_bytes"):
            value = getattr(spec, name)
            if value is not None and not 0 < value <= MAX_COUNT:
                raise _bad(f"'{name}' must be a whole number above 0.")
        if spec.max_days is not None:
            bound = self._keeping.max_days
            if not (math.isfinite(spec.max_days) and 0 < spec.max_days < MAX_DAYS):
                raise _bad(f"'max_days' must be a number of days above 0 and below {MAX_DAYS:,}.")
            if bound is not None and spec.max_days > bound:
                raise _bad(f"'max_days' may be at most {bound:g} on this server (PAIMON_MAX_DAYS).")
        if spec.folder is not None:
            if not self.takes_folders:
                raise UploadRefused(
                    "folder_unsupported",
                    f"This server stores uploads in {self._storage.name}, which has no "
                    "folders for a link's 'folder'.",
                )
            try:
                clean_folder(spec.folder)
            except BadFolder as exc:
                raise _bad(f"'folder': {exc}") from None

    def all(self) -> list[UploadLink]:
        """Every link, revoked ones too, newest first."""
        return self._store.list_links()

    def find(self, link_id: str) -> UploadLink:
        link = self._store.get_link(link_id)
        if link is None:
            raise UploadRefused("not_found", "No upload link with that id.")
        return link

    def revoke(self, link_id: str) -> UploadLink:
        link = self._store.revoke_link(link_id, time.time())
        if link is None:
            raise UploadRefused("not_found", "No upload link with that id.")
        return link

    def token_of(self, link: UploadLink) -> str | None:
        """The link's URL token, when this install sealed it (None: another install's,
        whose secret this one does not hold)."""
        return self._sealer.open(link.sealed_token) if link.sealed_token else None

    @property
    def takes_folders(self) -> bool:
        """Whether a link may name a folder: the backend StoresInFolders (MEGA)."""
        return isinstance(self._storage, StoresInFolders)

    def folder_path(self, link: UploadLink) -> str | None:
        """Where the link's uploads land in storage, when it names a folder."""
        if link.folder is None or not isinstance(self._storage, StoresInFolders):
            return None
        return self._storage.folder_path(link.folder)

    # Whoever holds a link's URL -------------------------------------------------------

    def open(self, token: str) -> UploadLink:
        """The link a URL's token names, if it may still take an upload; UploadRefused
        ``link_not_found`` (404), or ``link_revoked``, ``link_expired`` or
        ``link_used_up`` (410) otherwise."""
        link = self._store.find_link(digest_of(token))
        if link is None:
            raise UploadRefused("link_not_found", NOT_FOUND)
        if link.revoked_at is not None:
            raise _refusal("revoked", link)
        if link.expired(time.time()):
            raise _refusal("expired", link)
        if link.files_left() == 0:
            raise _refusal("files", link)
        if link.bytes_left() == 0:
            raise _refusal("bytes", link)
        return link

    def claim(self, link: UploadLink, declared: int | None, *, one_file: bool) -> LinkClaim:
        """Take one file and ``declared`` bytes (a body's Content-Length; None: chunked)
        from the link, before the body is read. ``one_file``: the body is the file
        itself (a PUT), so ``max_file_bytes`` is checked now too; a multipart body's
        files are checked as they end (``check_files``). 411 ``length_required`` for a
        body of unknown length when the link limits bytes."""
        limits_bytes = link.max_total_bytes is not None or (
            one_file and link.max_file_bytes is not None
        )
        if declared is None and limits_bytes:
            raise UploadRefused(
                "length_required",
                "This upload link limits sizes, so it needs to know the upload's size "
                "first: send a Content-Length (curl does, unless told to chunk).",
            )
        if one_file and declared is not None:
            self._check_file(link, declared)
        nbytes = declared or 0
        return LinkClaim(self._store, _claimed(self._store, link, 1, nbytes), nbytes)

    def check_files(self, link: UploadLink, sizes: list[int]) -> None:
        """Each file of a multipart body within the link's ``max_file_bytes``."""
        for size in sizes:
            self._check_file(link, size)

    @staticmethod
    def _check_file(link: UploadLink, size: int) -> None:
        if link.max_file_bytes is not None and size > link.max_file_bytes:
            raise UploadRefused(
                "link_file_too_large",
                f"Each file sent through this upload link may be at most "
                f"{link.max_file_bytes:,} bytes; this one is {size:,}.",
            )

    def files_allowed(self, link: UploadLink, per_request: int) -> int:
        """How many files one multipart body may carry through the link (after its
        claim of one): the server's limit, or what the link has left if fewer."""
        left = link.files_left()
        return per_request if left is None else max(1, min(per_request, left + 1))

    def keep(self, link: UploadLink, asked: Keep) -> Keep:
        """What an upload through the link is kept as: as the uploader asks, within the
        link's ``max_days`` (its default, too)."""
        if link.max_days is None:
            return asked
        if asked.max_days is not None and asked.max_days > link.max_days:
            raise UploadRefused(
                "max_days_too_large",
                f"Max-Days may be at most {link.max_days:g} through this upload link.",
            )
        return Keep(asked.max_days or link.max_days, asked.max_downloads)

    @staticmethod
    def origin(link: UploadLink) -> Origin:
        """How an upload through the link is recorded."""
        return Origin(link=link.id, folder=link.folder)
