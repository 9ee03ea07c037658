"""What the owner's console and the JSON API read from a request and show of uploads,
totals, storage and upload links: the same parsing and the same views for both, so the
pages and the API never disagree."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from flask import url_for
from pydantic import (
    BaseModel,
    ByteSize,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
)

from paimon.jobs.links import UploadLink
from paimon.jobs.listing import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    BadCursor,
    Cursor,
    JobQuery,
    Tally,
    Totals,
)
from paimon.jobs.model import Job, JobState
from paimon.uploads.console import StorageReport
from paimon.uploads.names import MAX_NAME_CHARS
from paimon.uploads.uploadlinks import LinkSpec
from paimon.web.context import services
from paimon.web.errors import ApiError
from paimon.web.replies import absolute, job_view

#: The query parameters of GET /api/uploads and GET /admin, as the docs name them.
FILTERS = ("state", "backend", "uploader", "link", "q", "from", "to", "removed")
_YES_NO = {"true": True, "false": False}


def _bad(message: str) -> ApiError:
    return ApiError("bad_query", message)


def _when(text: str, name: str, *, end_of_day: bool) -> float:
    """A time given as a date (``2026-12-07``, UTC; as ``to``, through its end) or as an
    ISO 8601 time (UTC unless it says otherwise)."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return (start + timedelta(days=1 if end_of_day else 0)).timestamp()
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(f"'{name}' must be a date (2026-12-07) or a time in ISO 8601.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def job_query(args: Mapping[str, str]) -> JobQuery:
    """The listing a request asks for; an empty parameter is no filter (as a form sends
    it). 400 ``bad_query`` (or ``bad_cursor``) naming what is wrong."""
    given = {name: args.get(name, "").strip() for name in (*FILTERS, "limit", "cursor")}
    states: set[JobState] = set()
    for name in filter(None, given["state"].split(",")):
        try:
            states.add(JobState(name.strip()))
        except ValueError:
            known = ", ".join(state.value for state in JobState)
            raise _bad(f"'state' must be one of {known} (several: comma-separated).") from None
    if len(given["q"]) > MAX_NAME_CHARS:
        raise _bad(f"'q' may be at most {MAX_NAME_CHARS} characters.")
    if given["removed"] and given["removed"] not in _YES_NO:
        raise _bad("'removed' must be 'true' or 'false'.")
    limit = DEFAULT_LIMIT
    if given["limit"]:
        if not given["limit"].isdigit() or not 1 <= int(given["limit"]) <= MAX_LIMIT:
            raise _bad(f"'limit' must be a whole number from 1 to {MAX_LIMIT}.")
        limit = int(given["limit"])
    try:
        after = Cursor.decode(given["cursor"]) if given["cursor"] else None
    except BadCursor:
        raise ApiError(
            "bad_cursor", "'cursor' must be the 'next' of an earlier page, as it was."
        ) from None
    return JobQuery(
        states=frozenset(states),
        backend=given["backend"] or None,
        uploader_label=given["uploader"] or None,
        upload_link=given["link"] or None,
        name=given["q"] or None,
        created_from=_when(given["from"], "from", end_of_day=False) if given["from"] else None,
        created_before=_when(given["to"], "to", end_of_day=True) if given["to"] else None,
        removed=_YES_NO.get(given["removed"]),
        limit=limit,
        after=after,
    )


def size_text(count: int) -> str:
    """A byte count as a person reads it (powers of 1000, as the upload page shows)."""
    value, unit = float(count), "bytes"
    for larger in ("KB", "MB", "GB", "TB"):
        if value < 1000:
            break
        value, unit = value / 1000, larger
    return f"{count:,} bytes" if unit == "bytes" else f"{value:.1f} {unit}"


def upload_view(job: Job) -> dict[str, object]:
    """An upload as the owner sees it: its status, link, and who sent it."""
    return job_view(job) | {name: getattr(job, name) for name in Job.OWNER_ONLY}


def totals_view(totals: Totals) -> dict[str, object]:
    def tallies(by_state: dict[JobState, Tally]) -> dict[str, object]:
        view: dict[str, object] = {
            state.value: {"uploads": tally.uploads, "bytes": tally.bytes}
            for state, tally in by_state.items()
        }
        view["total"] = {
            "uploads": sum(tally.uploads for tally in by_state.values()),
            "bytes": sum(tally.bytes for tally in by_state.values()),
        }
        return view

    return {"all": tallies(totals.all), "today": tallies(totals.today)}


def storage_view(report: StorageReport) -> dict[str, object]:
    disk = report.disk
    view: dict[str, object] = {"backend": report.backend}
    if disk is not None:
        view["disk"] = {
            "free_bytes": disk.free_bytes,
            "total_bytes": disk.total_bytes,
            "min_free_bytes": disk.min_free_bytes,
            "reservations": disk.reservations,
            "reserved_bytes": disk.reserved_bytes,
        }
    if report.spool_url:
        view["spool_url"] = report.spool_url
    if report.usage is not None:
        view["usage"] = {
            "used_bytes": report.usage.used_bytes,
            "total_bytes": report.usage.total_bytes,
        }
    if report.space is not None:
        view["space"] = {
            "free_bytes": report.space.free_bytes,
            "promised_bytes": report.space.promised_bytes,
        }
    return view


def link_state(link: UploadLink, now: float) -> str:
    if link.revoked_at is not None:
        return "revoked"
    if link.expired(now):
        return "expired"
    if link.files_left() == 0 or link.bytes_left() == 0:
        return "used_up"
    return "active"


def link_url(link: UploadLink) -> str | None:
    token = services().upload_links.token_of(link)
    return absolute(url_for("uploadlinks.page", token=token)) if token else None


def link_view(link: UploadLink) -> dict[str, object]:
    """An upload link as the owner sees it: its URL (while this install can open its
    sealed token), its limits, its use so far and its state."""
    view: dict[str, object] = {
        name: getattr(link, name) for name in UploadLink.__dataclass_fields__
    }
    for private in ("token_digest", "sealed_token"):
        del view[private]
    view["url"] = link_url(link)
    view["files_left"] = link.files_left()
    view["bytes_left"] = link.bytes_left()
    view["folder_path"] = services().upload_links.folder_path(link)
    view["state"] = link_state(link, time.time())
    return view


class LinkRequest(BaseModel):
    """The JSON body of POST /api/upload-links: every field optional, types exact."""

    model_config = ConfigDict(extra="forbid")

    label: StrictStr | None = None
    expires_in_seconds: StrictInt | StrictFloat | None = None
    max_files: StrictInt | None = None
    max_file_bytes: StrictInt | None = None
    max_total_bytes: StrictInt | None = None
    max_days: StrictInt | StrictFloat | None = None
    folder: StrictStr | None = None


def link_spec_from_json(body: object) -> LinkSpec:
    """400 ``bad_upload_link`` naming the first field that is wrong."""
    try:
        asked = LinkRequest.model_validate(body if body is not None else {})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "the body"
        raise ApiError("bad_upload_link", f"'{where}': {error['msg']}.") from None
    return LinkSpec(**asked.model_dump())


_SIZE = TypeAdapter(Annotated[ByteSize, Field(gt=0)])


def link_spec_from_form(form: Mapping[str, str]) -> LinkSpec:
    """The console's form: hours and days as numbers, sizes as '500MB' or '2GiB' (or
    bytes); an empty field is no limit."""
    given = {name: form.get(name, "").strip() for name in LinkForm.FIELDS}

    def number(name: str) -> float | None:
        if not given[name]:
            return None
        try:
            value = float(given[name])
        except ValueError:
            raise ApiError("bad_upload_link", f"'{name}' must be a number.") from None
        if not math.isfinite(value) or value <= 0:
            raise ApiError("bad_upload_link", f"'{name}' must be a number above 0.")
        return value

    def size(name: str) -> int | None:
        if not given[name]:
            return None
        try:
            return int(_SIZE.validate_python(given[name]))
        except ValidationError:
            raise ApiError(
                "bad_upload_link", f"'{name}' must be a size such as 500MB or 2GiB."
            ) from None

    hours, files = number("expires_in_hours"), number("max_files")
    if files is not None and not files.is_integer():
        raise ApiError("bad_upload_link", "'max_files' must be a whole number.")
    return LinkSpec(
        label=given["label"] or None,
        expires_in_seconds=None if hours is None else hours * 3600,
        max_files=None if files is None else int(files),
        max_file_bytes=size("max_file_size"),
        max_total_bytes=size("max_total_size"),
        max_days=number("max_days"),
        folder=given["folder"] or None,
    )


class LinkForm:
    """The fields of the console's form for a new upload link."""

    FIELDS = (
        "label",
        "expires_in_hours",
        "max_files",
        "max_file_size",
        "max_total_size",
        "max_days",
        "folder",
    )
