"""The folder an upload goes to, below the storage's own (``PAIMON_MEGA_FOLDER``).

An upload may name one (form field ``folder``, query parameter ``?folder=``, tus metadata
``folder``); an upload link and a token (``PAIMON_TOKEN_FOLDERS``) may have theirs. A
folder is a path of names separated by ``/``, created on demand. Every name is checked
here, in one place, before a byte is received: no empty names (``a//b``), none starting
with ``.`` or a space (so no ``.`` or ``..``, no hidden or blank names), no control
characters or backslashes, at most MAX_NAME_CHARS characters each, at most MAX_DEPTH of
them and MAX_PATH_CHARS in all. One leading and one trailing ``/`` are ignored
(docs/openapi.yaml states the same rules as a pattern). ``bundle=folder`` puts a
request's files into a new folder of their own (``bundle_folder``).
"""

from __future__ import annotations

import secrets
import time

from paimon.uploads.refusals import UploadRefused

MAX_NAME_CHARS = 100
MAX_DEPTH = 8
MAX_PATH_CHARS = 400
#: ``bundle``'s one value: the request's files go into a new folder of their own.
BUNDLE_FOLDER = "folder"


class BadFolder(ValueError):
    """A folder path that is not acceptable; the message says why, for a person."""


def clean_folder(raw: str) -> str:
    """``raw`` as a folder path (names joined by ``/``), or BadFolder."""
    if len(raw) > MAX_PATH_CHARS:
        raise BadFolder(f"A folder path may be at most {MAX_PATH_CHARS} characters long.")
    path = raw.removeprefix("/").removesuffix("/")
    if not path:
        raise BadFolder("A folder must have a name ('/' alone is not one).")
    names = path.split("/")
    if len(names) > MAX_DEPTH:
        raise BadFolder(f"A folder path may have at most {MAX_DEPTH} levels.")
    for name in names:
        if not name:
            raise BadFolder("A folder path may not have empty names ('a//b').")
        if name[0] == "." or name[0].isspace():
            raise BadFolder("A folder name may not start with '.' or a space ('..' included).")
        if any(ord(c) < 32 or ord(c) == 127 for c in name) or "\\" in name:
            raise BadFolder("A folder name may not contain control characters or '\\'.")
        if len(name) > MAX_NAME_CHARS:
            raise BadFolder(f"A folder name may be at most {MAX_NAME_CHARS} characters long.")
    return "/".join(names)


def requested_folder(raw: str | None) -> str | None:
    """The folder an upload asked for (None: none), or UploadRefused ``bad_folder``."""
    if raw is None or raw == "":
        return None
    try:
        return clean_folder(raw)
    except BadFolder as exc:
        raise UploadRefused("bad_folder", f"'folder': {exc}") from None


def below(base: str | None, folder: str | None) -> str | None:
    """``folder`` inside ``base`` (an upload link's), either of them possibly None."""
    if base and folder:
        joined = f"{base}/{folder}"
        try:
            return clean_folder(joined)
        except BadFolder as exc:
            raise UploadRefused("bad_folder", f"'folder' inside the link's: {exc}") from None
    return folder or base


def requested_bundle(raw: str | None) -> bool:
    """Whether the request asked for its files to be kept together (``bundle=folder``)."""
    if raw is None or raw == "":
        return False
    if raw != BUNDLE_FOLDER:
        raise UploadRefused("bad_folder", f"'bundle' may only be '{BUNDLE_FOLDER}'.")
    return True


def bundle_folder(base: str | None) -> str:
    """A new folder for one request's files, inside ``base``: named by its time and a
    random part, so two bundles never share one."""
    name = time.strftime("bundle-%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)
    return f"{base}/{name}" if base else name
