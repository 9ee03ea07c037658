"""Where a request's uploads go: the folder it names (query parameter ``folder``, a form
field ``folder`` sent before the files, tus metadata ``folder``) below its upload link's
or, when it names none, its token's default folder; and ``bundle=folder`` (query or
form field), which puts a multi-file request's files into a new folder of their own and
answers a public link to it (``folder_link``). The rules on names are
paimon/uploads/folders.py's; this module only reads them off the request."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from flask import Response, request

from paimon.storage.base import StorageError
from paimon.uploads.folders import below, bundle_folder, requested_bundle, requested_folder
from paimon.uploads.origins import Origin
from paimon.uploads.refusals import UploadRefused
from paimon.web.context import services

log = logging.getLogger(__name__)

FOLDER, BUNDLE = "folder", "bundle"


@dataclass(frozen=True)
class Placement:
    """A request's uploads' origin (with their folder), whether they are a bundle, and
    the form fields that decided it (checked again once the whole form is in)."""

    origin: Origin
    bundle: bool = False
    fields: Mapping[str, str] = dataclasses.field(default_factory=dict)


def place(origin: Origin, fields: Mapping[str, str] | None = None, *, bundles: bool) -> Placement:
    """The folder the request asks for (``?folder=`` or ``fields``, e.g. a form's fields
    read so far, or tus metadata) put on ``origin``: below an upload link's folder, else
    instead of the token's default. ``bundles``: whether ``bundle`` may be asked
    (several files in one request); elsewhere it is refused."""
    given = {name: value for name in (FOLDER, BUNDLE) if (value := _given(name, fields))}
    folder = requested_folder(given.get(FOLDER))
    folder = below(origin.folder, folder) if origin.link else folder or origin.folder
    bundle = requested_bundle(given.get(BUNDLE))
    if bundle and not bundles:
        raise UploadRefused(
            "bad_folder", "'bundle' needs a multipart request (POST), which may send several files."
        )
    if bundle:
        folder = bundle_folder(folder)
    if folder:
        _need_folders()
    used = {name: value for name, value in (fields or {}).items() if name in given}
    return Placement(dataclasses.replace(origin, folder=folder), bundle, used)


def check_query() -> None:
    """A multipart request's ``?folder=`` and ``?bundle=``, checked before its body is
    read (its form fields can only be once their part arrives)."""
    asked = requested_folder(request.args.get(FOLDER))
    if requested_bundle(request.args.get(BUNDLE)) or asked:
        _need_folders()


def _need_folders() -> None:
    """``folder_unsupported`` on a backend without folders."""
    if not services().uploads.takes_folders:
        raise UploadRefused(
            "folder_unsupported",
            f"This server stores uploads in {services().uploads.storage.name}, which has "
            "no folders.",
        )


def _given(name: str, fields: Mapping[str, str] | None) -> str | None:
    """The request's ``name``: its query parameter or its field, not two different ones."""
    asked, field = request.args.get(name), (fields or {}).get(name)
    if asked and field and asked != field:
        raise UploadRefused("bad_folder", f"'{name}' is given twice, differently.")
    return asked or field


def check_form(placement: Placement | None) -> None:
    """The whole form is in: a ``folder`` or ``bundle`` field that came after the files
    (too late: they were already on their way) is refused rather than ignored."""
    used = placement.fields if placement is not None else {}
    for name in (FOLDER, BUNDLE):
        value = request.form.get(name)
        if value and used.get(name) != value and request.args.get(name) != value:
            raise UploadRefused(
                "bad_folder",
                f"Send the form field '{name}' before the files (or as ?{name}= in the URL).",
            )


def with_folder_link(response: Response, placement: Placement | None) -> Response:
    """A bundle's reply, with the public link to its folder (``folder_link``) beside each
    file's link, at the top and in ``X-Folder-Link``; ``folder_link_error`` if the export
    failed (the files are stored all the same)."""
    if placement is None or not placement.bundle or not placement.origin.folder:
        return response
    body = response.get_json()
    try:
        link = services().uploads.storage.folder_link(placement.origin.folder)  # type: ignore[attr-defined]
    except StorageError as exc:
        log.warning("could not export a bundle's folder: %s", exc.message)
        body["folder_link_error"] = exc.message
        link = None
    body["folder"] = services().uploads.storage.folder_path(placement.origin.folder)  # type: ignore[attr-defined]
    body["folder_link"] = link
    for entry in body.get("files", []):
        entry["folder_link"] = link
    response.set_data(json.dumps(body))
    if link is not None:  # a ?format=text reply, whose body is one link per file, too
        response.headers["X-Folder-Link"] = link
    return response
