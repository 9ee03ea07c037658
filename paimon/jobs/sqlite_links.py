"""The SQLite store's upload links (paimon/jobs/links.py): a table beside the jobs, and a
claim that is one UPDATE, so SQLite's write lock makes it atomic across workers."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Protocol

from paimon.jobs.codec import LINK_FIELDS, Stored, link_from_stored, link_to_stored
from paimon.jobs.links import LinkNotFound, LinkRefused, UploadLink

_TYPES = {str: "TEXT", int: "INTEGER", float: "REAL"}
_COLUMNS = ", ".join(LINK_FIELDS)


def _column(name: str) -> str:
    spec = LINK_FIELDS[name]
    key = " PRIMARY KEY" if name == "id" else ""
    return f"{name} {_TYPES[spec.kind]}{key}{'' if spec.nullable else ' NOT NULL'}"


STATEMENTS = [
    f"CREATE TABLE IF NOT EXISTS upload_links ({', '.join(map(_column, LINK_FIELDS))})",
    "CREATE UNIQUE INDEX IF NOT EXISTS upload_links_by_token ON upload_links (token_digest)",
    "CREATE INDEX IF NOT EXISTS upload_links_by_created_at ON upload_links (created_at)",
]
INDEX_NAMES = frozenset({"upload_links_by_token", "upload_links_by_created_at"})
_INSERT = (
    f"INSERT INTO upload_links ({_COLUMNS})"  # noqa: S608 (names from LINK_FIELDS)
    f" VALUES ({', '.join('?' * len(LINK_FIELDS))})"
)
# What refuses a claim, in the order LinkRefused names it.
_OPEN = "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > :now)"
_ROOM = (
    "(max_files IS NULL OR files + :files <= max_files)"
    " AND (max_total_bytes IS NULL OR bytes + :bytes <= max_total_bytes)"
)


class _Reads(Protocol):
    def _rows(self, sql: str, params: Iterable[Stored] | dict = ()) -> list[sqlite3.Row]: ...


class SqliteUploadLinks:
    """UploadLinkStore for SqliteJobStore (a mixin, reading through its ``_rows``)."""

    def create_link(self: _Reads, link: UploadLink) -> None:
        try:
            self._rows(_INSERT, link_to_stored(link).values())
        except sqlite3.IntegrityError as exc:
            raise ValueError(f"an upload link with id {link.id!r} exists already") from exc

    def get_link(self: _Reads, link_id: str) -> UploadLink | None:
        rows = self._rows(f"SELECT {_COLUMNS} FROM upload_links WHERE id = ?", [link_id])  # noqa: S608
        return link_from_stored(dict(rows[0])) if rows else None

    def find_link(self: _Reads, token_digest: str) -> UploadLink | None:
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM upload_links WHERE token_digest = ?",  # noqa: S608
            [token_digest],
        )
        return link_from_stored(dict(rows[0])) if rows else None

    def list_links(self: _Reads) -> list[UploadLink]:
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM upload_links ORDER BY created_at DESC, id DESC"  # noqa: S608
        )
        return [link_from_stored(dict(row)) for row in rows]

    def claim_link(self: _Reads, link_id: str, files: int, nbytes: int, now: float) -> UploadLink:
        values = {"id": link_id, "files": files, "bytes": nbytes, "now": now}
        rows = self._rows(
            "UPDATE upload_links SET files = files + :files, bytes = bytes + :bytes"  # noqa: S608
            f" WHERE id = :id AND {_OPEN} AND {_ROOM} RETURNING {_COLUMNS}",
            values,
        )
        if rows:
            return link_from_stored(dict(rows[0]))
        current = SqliteUploadLinks.get_link(self, link_id)  # type: ignore[arg-type]
        if current is None:
            raise LinkNotFound(link_id)
        if current.revoked_at is not None:
            raise LinkRefused("revoked", current)
        if current.expired(now):
            raise LinkRefused("expired", current)
        if current.max_files is not None and current.files + files > current.max_files:
            raise LinkRefused("files", current)
        raise LinkRefused("bytes", current)

    def release_link(self: _Reads, link_id: str, files: int, nbytes: int) -> None:
        self._rows(
            "UPDATE upload_links SET files = max(0, files - ?), bytes = max(0, bytes - ?)"
            " WHERE id = ?",
            [files, nbytes, link_id],
        )

    def revoke_link(self: _Reads, link_id: str, now: float) -> UploadLink | None:
        rows = self._rows(
            "UPDATE upload_links SET revoked_at = coalesce(revoked_at, ?)"  # noqa: S608
            f" WHERE id = ? RETURNING {_COLUMNS}",
            [now, link_id],
        )
        return link_from_stored(dict(rows[0])) if rows else None
