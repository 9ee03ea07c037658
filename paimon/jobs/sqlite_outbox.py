"""The SQLite store's outbox (paimon/jobs/outbox.py): a ``deliveries`` table beside the
jobs. Deliveries are inserted in the transaction of the job's own change
(``SqliteJobStore.update``/``delete``); every other change is one statement, atomic
under SQLite's write lock, like the jobs' leases. The sender's frequent looks for due
deliveries are plain reads; only when something is due does it take the write lock."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Protocol

from paimon.jobs.codec import (
    DELIVERY_FIELDS,
    Stored,
    delivery_changes_to_stored,
    delivery_from_stored,
    delivery_to_stored,
)
from paimon.jobs.outbox import Delivery, DeliveryNotFound, DeliveryState
from paimon.jobs.store import LeaseLost, StateConflict

_TYPES = {str: "TEXT", DeliveryState: "TEXT", int: "INTEGER", float: "REAL"}
_COLUMNS = ", ".join(DELIVERY_FIELDS)
_PENDING = DeliveryState.PENDING.value
_FINISHED = (DeliveryState.SENT.value, DeliveryState.FAILED.value)


def _column(name: str) -> str:
    spec = DELIVERY_FIELDS[name]
    key = " PRIMARY KEY" if name == "id" else ""
    return f"{name} {_TYPES[spec.kind]}{key}{'' if spec.nullable else ' NOT NULL'}"


INDEXES = {
    "deliveries_by_time": "(occurred_at, id)",
    "deliveries_by_state": "(state, occurred_at, id)",
    "deliveries_due": f"(endpoint, next_attempt_at) WHERE state = '{_PENDING}'",
    "deliveries_deadline": f"(give_up_at) WHERE state = '{_PENDING}'",
}
#: Run in the store's schema transaction, after the jobs table's own.
STATEMENTS = [
    f"CREATE TABLE IF NOT EXISTS deliveries ({', '.join(map(_column, DELIVERY_FIELDS))})",
    *(f"CREATE INDEX IF NOT EXISTS {n} ON deliveries {on}" for n, on in INDEXES.items()),
]
_INSERT = (
    f"INSERT INTO deliveries ({_COLUMNS})"  # noqa: S608 (names from DELIVERY_FIELDS)
    f" VALUES ({', '.join('?' * len(DELIVERY_FIELDS))})"
)
# Due for ``endpoint`` at ``now``, and not leased (or its lease ran out).
_DUE = (
    f"state = '{_PENDING}' AND endpoint = :endpoint AND next_attempt_at <= :now"
    " AND lease_expires <= :now"
)
_IN_FLIGHT = "lease_owner IS NOT NULL AND lease_expires > :now"


def insert(connection: sqlite3.Connection, deliveries: Iterable[Delivery]) -> None:
    """Write new deliveries, inside the caller's transaction (the job's change)."""
    connection.executemany(_INSERT, [tuple(delivery_to_stored(d).values()) for d in deliveries])


class _Reads(Protocol):
    def _rows(self, sql: str, params: Iterable[Stored] | dict = ()) -> list[sqlite3.Row]: ...


def _delivery(row: sqlite3.Row) -> Delivery:
    return delivery_from_stored(dict(row))


class SqliteOutbox:
    """DeliveryStore for SqliteJobStore (a mixin, reading through its ``_rows``)."""

    def get_delivery(self: _Reads, delivery_id: str) -> Delivery | None:
        rows = self._rows(f"SELECT {_COLUMNS} FROM deliveries WHERE id = ?", [delivery_id])  # noqa: S608
        return _delivery(rows[0]) if rows else None

    def list_deliveries(
        self: _Reads,
        *,
        state: DeliveryState | None = None,
        before: tuple[float, str] | None = None,
        limit: int = 50,
    ) -> list[Delivery]:
        conditions, params = [], []
        if state is not None:
            conditions.append("state = ?")
            params.append(DeliveryState(state).value)
        if before is not None:
            conditions.append("(occurred_at, id) < (?, ?)")
            params += [before[0], before[1]]
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM deliveries {where}"  # noqa: S608
            " ORDER BY occurred_at DESC, id DESC LIMIT ?",
            [*params, limit],
        )
        return [_delivery(row) for row in rows]

    def claim_deliveries(
        self: _Reads, endpoint: str, owner: str, now: float, ttl: float, limit: int
    ) -> list[Delivery]:
        due = {"endpoint": endpoint, "now": now}
        if not self._rows(f"SELECT 1 FROM deliveries WHERE {_DUE} LIMIT 1", due):  # noqa: S608
            return []  # the usual answer, without the write lock
        rows = self._rows(
            "UPDATE deliveries SET lease_owner = :owner, lease_expires = :expires"  # noqa: S608
            f" WHERE id IN (SELECT id FROM deliveries WHERE {_DUE}"
            " ORDER BY next_attempt_at LIMIT :limit)"
            f" RETURNING {_COLUMNS}",
            {**due, "owner": owner, "expires": now + ttl, "limit": limit},
        )
        return sorted(map(_delivery, rows), key=lambda d: (d.next_attempt_at or 0.0, d.id))

    def settle_delivery(self: _Reads, delivery_id: str, owner: str, **changes: object) -> Delivery:
        values = delivery_changes_to_stored(changes)
        assignments = "".join(f"{name} = ?, " for name in values)
        rows = self._rows(
            f"UPDATE deliveries SET {assignments}lease_owner = NULL, lease_expires = 0.0"  # noqa: S608
            f" WHERE id = ? AND lease_owner = ? RETURNING {_COLUMNS}",
            [*values.values(), delivery_id, owner],
        )
        if rows:
            return _delivery(rows[0])
        if not self._rows("SELECT 1 FROM deliveries WHERE id = ?", [delivery_id]):
            raise DeliveryNotFound(delivery_id)
        raise LeaseLost(f"delivery {delivery_id}: the lease of {owner} is lost")

    def resend_delivery(self: _Reads, delivery_id: str, now: float, give_up_at: float) -> Delivery:
        rows = self._rows(
            f"UPDATE deliveries SET state = '{_PENDING}', next_attempt_at = :now,"  # noqa: S608
            " give_up_at = :give_up_at, sent_at = NULL"
            f" WHERE id = :id AND NOT ({_IN_FLIGHT}) RETURNING {_COLUMNS}",
            {"now": now, "give_up_at": give_up_at, "id": delivery_id},
        )
        if rows:
            return _delivery(rows[0])
        if not self._rows("SELECT 1 FROM deliveries WHERE id = ?", [delivery_id]):
            raise DeliveryNotFound(delivery_id)
        raise StateConflict(f"delivery {delivery_id} is being sent right now")

    def delivery_counts(self: _Reads) -> dict[DeliveryState, int]:
        rows = self._rows("SELECT state, count(*) FROM deliveries GROUP BY state")
        return dict.fromkeys(DeliveryState, 0) | {DeliveryState(s): n for s, n in rows}

    def give_up_deliveries(self: _Reads, now: float, reason: str) -> int:
        expired = f"state = '{_PENDING}' AND give_up_at <= :now AND lease_expires <= :now"
        if not self._rows(f"SELECT 1 FROM deliveries WHERE {expired} LIMIT 1", {"now": now}):  # noqa: S608
            return 0
        rows = self._rows(
            f"UPDATE deliveries SET state = '{DeliveryState.FAILED.value}',"  # noqa: S608
            f" next_attempt_at = NULL, last_error = :reason WHERE {expired} RETURNING id",
            {"now": now, "reason": reason},
        )
        return len(rows)

    def purge_deliveries(self: _Reads, cutoff: float) -> int:
        rows = self._rows(
            "DELETE FROM deliveries WHERE state IN (?, ?) AND occurred_at < ? RETURNING id",
            [*_FINISHED, cutoff],
        )
        return len(rows)

    def delivery_leases(self: _Reads) -> dict[str, str]:
        rows = self._rows(
            "SELECT id, lease_owner FROM deliveries WHERE state = ? AND lease_owner IS NOT NULL",
            [_PENDING],
        )
        return {row["id"]: row["lease_owner"] for row in rows}

    def release_delivery_lease(self: _Reads, delivery_id: str, owner: str) -> None:
        self._rows(
            "UPDATE deliveries SET lease_owner = NULL, lease_expires = 0.0"
            " WHERE id = ? AND lease_owner = ?",
            [delivery_id, owner],
        )
