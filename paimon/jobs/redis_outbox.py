"""The Redis store's outbox (paimon/jobs/outbox.py). Keys, under the store's prefix:

- ``delivery:<id>``: a hash, one field per Delivery field (an absent field is None);
- ``deliveries``: a sorted set of every delivery's id, scored by ``occurred_at``;
- ``deliveries:<state>``: the same, for the deliveries in that state (pending, sent,
  failed): counts, listings by state and the purge read these;
- ``deliveries:due:<endpoint digest>``: the pending deliveries to one endpoint, scored
  by when a sender may take them: ``next_attempt_at``, or while one holds a lease, when
  it runs out, so a look for due deliveries never sees those in flight;
- ``deliveries:deadline``: the pending deliveries scored by ``give_up_at``.

Deliveries are written by the job's own script (``RedisJobStore._write``/``delete``,
through ``ANNOUNCE``), and every later change is a Lua script that keeps these indexes
in step with the hash, as the jobs' scripts do.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from redis.commands.core import Script

from paimon.jobs.codec import (
    delivery_changes_to_stored,
    delivery_from_stored,
    delivery_to_stored,
)
from paimon.jobs.outbox import (
    SNAPSHOT_FIELDS,
    Announcement,
    Delivery,
    DeliveryNotFound,
    DeliveryState,
)
from paimon.jobs.redis_errors import reachable
from paimon.jobs.store import LeaseLost, StateConflict

_STATES = [state.value for state in DeliveryState]

# KEYS of every delivery script: the delivery, its endpoint's due set, the deadline set,
# then one set per state in _STATES's order. ``index`` puts the delivery where its hash
# says it belongs.
_INDEX = """
local function index(key, due_key, deadline_key, state_keys, id)
  local state = redis.call('HGET', key, 'state')
  local occurred = redis.call('HGET', key, 'occurred_at')
  for s, state_key in pairs(state_keys) do
    if s == state then
      redis.call('ZADD', state_key, occurred, id)
    else
      redis.call('ZREM', state_key, id)
    end
  end
  if state == 'pending' then
    local due = tonumber(redis.call('HGET', key, 'next_attempt_at'))
    local lease = tonumber(redis.call('HGET', key, 'lease_expires') or '0')
    if lease > due then due = lease end
    redis.call('ZADD', due_key, due, id)
    redis.call('ZADD', deadline_key, redis.call('HGET', key, 'give_up_at'), id)
  else
    redis.call('ZREM', due_key, id)
    redis.call('ZREM', deadline_key, id)
  end
end
local function state_keys_from(first)
  local keys = {}
  for i, state in ipairs(ARGS.states) do keys[state] = KEYS[first + i - 1] end
  return keys
end
"""
# Inside a job's script (after its prelude): ``announce(job_key)`` writes
# args.announce's deliveries, their fields from Python but the job's snapshot and,
# unless args.announce.occurred, the time from the job as this script left it. KEYS from
# args.announce.first: the deadline set, the all-deliveries set, the state sets (in
# args.announce.states' order), then each delivery's hash and due set in turn.
ANNOUNCE = (
    "local ARGS = args.announce or {states = {}}\n"
    + _INDEX
    + """
local function announce(job_key)
  local a = args.announce
  local f = a.first
  local deadline_key, all_key = KEYS[f], KEYS[f + 1]
  local state_keys = state_keys_from(f + 2)
  local kept = {}
  for _, name in ipairs(a.snapshot) do
    local value = redis.call('HGET', job_key, name)
    if value then kept[name] = value end
  end
  local job = cjson.encode(kept)
  local occurred = a.occurred or redis.call('HGET', job_key, 'updated_at')
  for i, delivery in ipairs(a.deliveries) do
    local key = KEYS[f + 2 + #a.states + (i - 1) * 2]
    local due_key = KEYS[f + 3 + #a.states + (i - 1) * 2]
    for name, value in pairs(delivery) do redis.call('HSET', key, name, value) end
    redis.call('HSET', key, 'job', job, 'occurred_at', occurred, 'next_attempt_at', occurred)
    redis.call('ZADD', all_key, occurred, delivery.id)
    index(key, due_key, deadline_key, state_keys, delivery.id)
  end
end
"""
)
_PRELUDE = (
    "local ARGS = cjson.decode(ARGV[1])\n" + _INDEX + "local state_keys = state_keys_from(4)\n"
)
# ARGS: id, owner, now, expires. The delivery's fields once leased, or 0.
_CLAIM = (
    _PRELUDE
    + """
local score = redis.call('ZSCORE', KEYS[2], ARGS.id)
if not score or tonumber(score) > tonumber(ARGS.now)
    or redis.call('HGET', KEYS[1], 'state') ~= 'pending' then
  return 0
end
redis.call('HSET', KEYS[1], 'lease_owner', ARGS.owner, 'lease_expires', ARGS.expires)
index(KEYS[1], KEYS[2], KEYS[3], state_keys, ARGS.id)
return redis.call('HGETALL', KEYS[1])
"""
)
# ARGS: id, owner, set, unset. 'missing', 'lost', or the delivery's fields.
_SETTLE = (
    _PRELUDE
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
if redis.call('HGET', KEYS[1], 'lease_owner') ~= ARGS.owner then return 'lost' end
for name, value in pairs(ARGS.set) do redis.call('HSET', KEYS[1], name, value) end
for _, name in ipairs(ARGS.unset) do redis.call('HDEL', KEYS[1], name) end
redis.call('HDEL', KEYS[1], 'lease_owner')
redis.call('HSET', KEYS[1], 'lease_expires', '0.0')
index(KEYS[1], KEYS[2], KEYS[3], state_keys, ARGS.id)
return redis.call('HGETALL', KEYS[1])
"""
)
# ARGS: id, now, give_up_at. 'missing', 'in_flight', or the delivery's fields.
_RESEND = (
    _PRELUDE
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
if redis.call('HEXISTS', KEYS[1], 'lease_owner') == 1
    and tonumber(redis.call('HGET', KEYS[1], 'lease_expires')) > tonumber(ARGS.now) then
  return 'in_flight'
end
redis.call('HSET', KEYS[1], 'state', 'pending', 'next_attempt_at', ARGS.now,
           'give_up_at', ARGS.give_up_at)
redis.call('HDEL', KEYS[1], 'sent_at')
index(KEYS[1], KEYS[2], KEYS[3], state_keys, ARGS.id)
return redis.call('HGETALL', KEYS[1])
"""
)
# ARGS: id, now, reason. 1 when given up.
_GIVE_UP = (
    _PRELUDE
    + """
if redis.call('HGET', KEYS[1], 'state') ~= 'pending'
    or tonumber(redis.call('HGET', KEYS[1], 'give_up_at')) > tonumber(ARGS.now)
    or tonumber(redis.call('HGET', KEYS[1], 'lease_expires') or '0') > tonumber(ARGS.now) then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'failed', 'last_error', ARGS.reason)
redis.call('HDEL', KEYS[1], 'next_attempt_at')
index(KEYS[1], KEYS[2], KEYS[3], state_keys, ARGS.id)
return 1
"""
)
# ARGS: id, owner. Gives the lease back: due again at once (its next_attempt_at).
_RELEASE = (
    _PRELUDE
    + """
if redis.call('HGET', KEYS[1], 'lease_owner') ~= ARGS.owner then return 0 end
redis.call('HDEL', KEYS[1], 'lease_owner')
redis.call('HSET', KEYS[1], 'lease_expires', '0.0')
index(KEYS[1], KEYS[2], KEYS[3], state_keys, ARGS.id)
return 1
"""
)
# KEYS: the delivery, the all-deliveries set, the state sets. ARGS: id, cutoff.
_PURGE = """
local ARGS = cjson.decode(ARGV[1])
local state = redis.call('HGET', KEYS[1], 'state')
if (state ~= 'sent' and state ~= 'failed')
    or tonumber(redis.call('HGET', KEYS[1], 'occurred_at')) >= tonumber(ARGS.cutoff) then
  return 0
end
redis.call('DEL', KEYS[1])
for i = 2, #KEYS do redis.call('ZREM', KEYS[i], ARGS.id) end
return 1
"""


def _encode(value: object) -> str:
    return str(value)


class RedisOutbox:
    """DeliveryStore for RedisJobStore (a mixin, on its client and prefix)."""

    prefix: str
    _url: str  # for the message when Redis is unreachable (redis_errors.py)

    def _redis(self) -> Any: ...  # RedisJobStore's: this process's connection

    def _script(self, source: str) -> Script: ...  # RedisJobStore's, registered once per connection

    # Keys ----------------------------------------------------------------------------

    def _delivery_key(self, delivery_id: str) -> str:
        return f"{self.prefix}delivery:{delivery_id}"

    def _due_key(self, endpoint: str) -> str:
        digest = hashlib.sha256(endpoint.encode()).hexdigest()[:16]
        return f"{self.prefix}deliveries:due:{digest}"

    def _state_key(self, state: str) -> str:
        return f"{self.prefix}deliveries:{state}"

    @property
    def _all_key(self) -> str:
        return f"{self.prefix}deliveries"

    @property
    def _deadline_key(self) -> str:
        return f"{self.prefix}deliveries:deadline"

    def _keys_of(self, delivery_id: str, endpoint: str) -> list[str]:
        """KEYS of a delivery script (see _INDEX)."""
        return [
            self._delivery_key(delivery_id),
            self._due_key(endpoint),
            self._deadline_key,
            *map(self._state_key, _STATES),
        ]

    @staticmethod
    def _args(**values: object) -> list[str]:
        return [json.dumps({"states": _STATES, **values})]

    def announce_args(
        self, announce: Announcement, job_id: str, first: int, occurred_at: float | None = None
    ) -> tuple[list[str], dict]:
        """The KEYS and ``args.announce`` a job's script needs to write ``announce``
        (see ANNOUNCE), its keys starting at KEYS[first]; ``occurred_at``: the event's
        time, else the job's new ``updated_at``."""
        keys = [self._deadline_key, self._all_key, *map(self._state_key, _STATES)]
        for delivery_id, endpoint in zip(announce.ids, announce.endpoints, strict=True):
            keys += [self._delivery_key(delivery_id), self._due_key(endpoint)]
        unfilled = announce.deliveries(job_id=job_id, job="", occurred_at=0.0)
        fields = [
            {name: _encode(value) for name, value in delivery_to_stored(d).items()
             if value is not None and name not in ("job", "occurred_at", "next_attempt_at")}
            for d in unfilled
        ]  # fmt: skip
        args: dict[str, object] = {
            "first": first,
            "states": _STATES,
            "snapshot": list(SNAPSHOT_FIELDS),
            "deliveries": fields,
        }
        if occurred_at is not None:
            args["occurred"] = _encode(occurred_at)
        return keys, args

    # Reads ---------------------------------------------------------------------------

    def _deliveries(self, delivery_ids: Iterable[str]) -> list[Delivery]:
        pipeline = self._redis().client.pipeline(transaction=False)
        for delivery_id in delivery_ids:
            pipeline.hgetall(self._delivery_key(delivery_id))
        return [delivery_from_stored(fields) for fields in pipeline.execute() if fields]

    @staticmethod
    def _delivery(flat_fields: list[str]) -> Delivery:
        return delivery_from_stored(dict(zip(flat_fields[::2], flat_fields[1::2], strict=True)))

    @reachable
    def get_delivery(self, delivery_id: str) -> Delivery | None:
        fields = self._redis().client.hgetall(self._delivery_key(delivery_id))
        return delivery_from_stored(fields) if fields else None

    @reachable
    def list_deliveries(
        self,
        *,
        state: DeliveryState | None = None,
        before: tuple[float, str] | None = None,
        limit: int = 50,
    ) -> list[Delivery]:
        key = self._all_key if state is None else self._state_key(DeliveryState(state).value)
        client = self._redis().client
        top = "+inf" if before is None else _encode(before[0])
        page: list[str] = []
        offset = 0
        while len(page) < limit:
            batch = client.zrevrangebyscore(
                key, top, "-inf", start=offset, num=limit + 1, withscores=True
            )
            if not batch:
                break
            offset += len(batch)
            page += [
                delivery_id
                for delivery_id, score in batch
                if before is None or score < before[0] or delivery_id < before[1]
            ]
        return self._deliveries(page[:limit])

    @reachable
    def delivery_counts(self) -> dict[DeliveryState, int]:
        pipeline = self._redis().client.pipeline(transaction=True)
        for state in DeliveryState:
            pipeline.zcard(self._state_key(state.value))
        return dict(zip(DeliveryState, pipeline.execute(), strict=True))

    @reachable
    def delivery_leases(self) -> dict[str, str]:
        client = self._redis().client
        pending = client.zrange(self._state_key(DeliveryState.PENDING.value), 0, -1)
        pipeline = client.pipeline(transaction=False)
        for delivery_id in pending:
            pipeline.hget(self._delivery_key(delivery_id), "lease_owner")
        owners = pipeline.execute()
        return {d: owner for d, owner in zip(pending, owners, strict=True) if owner is not None}

    # Writes --------------------------------------------------------------------------

    def _endpoint_of(self, delivery_id: str) -> str:
        endpoint = self._redis().client.hget(self._delivery_key(delivery_id), "endpoint")
        if endpoint is None:
            raise DeliveryNotFound(delivery_id)
        return endpoint

    @reachable
    def claim_deliveries(
        self, endpoint: str, owner: str, now: float, ttl: float, limit: int
    ) -> list[Delivery]:
        due = self._redis().client.zrangebyscore(
            self._due_key(endpoint), "-inf", _encode(now), start=0, num=limit
        )
        claimed = []
        for delivery_id in due:
            fields = self._script(_CLAIM)(
                keys=self._keys_of(delivery_id, endpoint),
                args=self._args(
                    id=delivery_id, owner=owner, now=_encode(now), expires=_encode(now + ttl)
                ),
            )
            if fields:
                claimed.append(self._delivery(fields))
        return claimed

    @reachable
    def settle_delivery(self, delivery_id: str, owner: str, **changes: object) -> Delivery:
        values = delivery_changes_to_stored(changes)
        result = self._script(_SETTLE)(
            keys=self._keys_of(delivery_id, self._endpoint_of(delivery_id)),
            args=self._args(
                id=delivery_id,
                owner=owner,
                set={name: _encode(v) for name, v in values.items() if v is not None},
                unset=[name for name, value in values.items() if value is None],
            ),
        )
        if result == "missing":
            raise DeliveryNotFound(delivery_id)
        if result == "lost":
            raise LeaseLost(f"delivery {delivery_id}: the lease of {owner} is lost")
        return self._delivery(result)

    @reachable
    def resend_delivery(self, delivery_id: str, now: float, give_up_at: float) -> Delivery:
        result = self._script(_RESEND)(
            keys=self._keys_of(delivery_id, self._endpoint_of(delivery_id)),
            args=self._args(id=delivery_id, now=_encode(now), give_up_at=_encode(give_up_at)),
        )
        if result == "missing":
            raise DeliveryNotFound(delivery_id)
        if result == "in_flight":
            raise StateConflict(f"delivery {delivery_id} is being sent right now")
        return self._delivery(result)

    def _each_with_endpoint(self, delivery_ids: list[str]) -> list[tuple[str, str]]:
        pipeline = self._redis().client.pipeline(transaction=False)
        for delivery_id in delivery_ids:
            pipeline.hget(self._delivery_key(delivery_id), "endpoint")
        endpoints = pipeline.execute()
        return [(d, e) for d, e in zip(delivery_ids, endpoints, strict=True) if e is not None]

    @reachable
    def give_up_deliveries(self, now: float, reason: str) -> int:
        expired = self._redis().client.zrangebyscore(self._deadline_key, "-inf", _encode(now))
        given_up = 0
        for delivery_id, endpoint in self._each_with_endpoint(expired):
            given_up += self._script(_GIVE_UP)(
                keys=self._keys_of(delivery_id, endpoint),
                args=self._args(id=delivery_id, now=_encode(now), reason=reason),
            )
        return given_up

    @reachable
    def release_delivery_lease(self, delivery_id: str, owner: str) -> None:
        for _, endpoint in self._each_with_endpoint([delivery_id]):
            self._script(_RELEASE)(
                keys=self._keys_of(delivery_id, endpoint),
                args=self._args(id=delivery_id, owner=owner),
            )

    @reachable
    def purge_deliveries(self, cutoff: float) -> int:
        client = self._redis().client
        purged = 0
        for state in (DeliveryState.SENT, DeliveryState.FAILED):
            old = client.zrangebyscore(self._state_key(state.value), "-inf", f"({cutoff!r}")
            for delivery_id in old:
                purged += self._script(_PURGE)(
                    keys=[
                        self._delivery_key(delivery_id),
                        self._all_key,
                        *map(self._state_key, _STATES),
                    ],
                    args=[json.dumps({"id": delivery_id, "cutoff": _encode(cutoff)})],
                )
        return purged
