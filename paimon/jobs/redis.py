"""The job store for several instances: Redis (Render Key Value or any Redis).

Keys, all under the prefix:

- ``job:<id>``: a hash, one field per Job field (an absent field is None);
- ``state:<state>``: a set of the ids of the jobs in that state;
- ``finished``: a sorted set of the ids retention may purge (failed, and done without a
  delete link: see ``JobStore.purgeable_before``), scored by ``updated_at``;
- ``removable``: a sorted set of the stored uploads with a limit, not removed yet,
  scored by when the expiry sweep removes them (``expires_at``, or 0 once their
  downloads are used up);
- ``stored:<storage key>``: the id of the job whose stored object has that key.

Every write that checks something or touches more than one key is a Lua script, which
Redis runs atomically: the indexes always agree with the jobs, and ``expect`` and
leases are compare-and-set, whoever else is writing. Reads of the indexes never scan
the keyspace.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import redis
from redis.commands.core import Script

from paimon.jobs.codec import (
    JOB_FIELDS,
    Stored,
    changes_to_stored,
    job_from_stored,
    job_to_stored,
)
from paimon.jobs.model import FINISHED, RESUMABLE, Job, JobState
from paimon.jobs.outbox import Announcement
from paimon.jobs.redis_errors import location, reachable
from paimon.jobs.redis_links import RedisUploadLinks
from paimon.jobs.redis_listing import FIXED, LISTING_LUA, RedisListing
from paimon.jobs.redis_outbox import ANNOUNCE, RedisOutbox
from paimon.jobs.store import Fence, JobNotFound, LeaseLost, StateConflict

CONNECT_TIMEOUT_SECONDS = 5.0
COMMAND_TIMEOUT_SECONDS = 10.0
# Check a pooled connection before use when it has been idle this long: hosted Redis
# and proxies drop idle connections.
HEALTH_CHECK_SECONDS = 30

# KEYS of the scripts that keep the indexes: the job, the finished set, the removable
# set, one set per state in this order, then the job's stored: key when it has a
# storage key (at args.stored), the listing's keys (args.list) and, when the write
# announces an event, the webhook outbox's (args.announce.first), so the scripts
# declare every key they touch.
_STATES = [state.value for state in JobState]
_FINISHED = {state.value: True for state in FINISHED}  # a Lua table to look states up in
_INDEX_PRELUDE = """
local job_key, finished_key, removable_key = KEYS[1], KEYS[2], KEYS[3]
local args = cjson.decode(ARGV[1])
local state_key = {}
for i, state in ipairs(args.states) do state_key[state] = KEYS[3 + i] end
local stored_key = args.stored and KEYS[args.stored]
"""
# A job's stored object is there (done, not removed), its downloads are used up, and
# when the expiry sweep is to remove it (false: never), that score kept in the
# removable set.
_REMOVAL_DUE = """
local function kept(key)
  return redis.call('HGET', key, 'state') == 'done'
      and redis.call('HEXISTS', key, 'removed_at') == 0
end
local function used_up(key)
  local allowed = redis.call('HGET', key, 'max_downloads')
  return allowed and tonumber(redis.call('HGET', key, 'downloads') or '0') >= tonumber(allowed)
end
local function removal_due(key)
  if not kept(key) then return false end
  if used_up(key) then return 0 end
  return redis.call('HGET', key, 'expires_at')
end
local function index_removal(key, removable, id)
  local due = removal_due(key)
  if due then redis.call('ZADD', removable, due, id) else redis.call('ZREM', removable, id) end
end
"""
# Create (args.create) or update a job: 'exists', 'missing', 'fenced' (args.fence: the
# job is done, or its lease is not that owner's with that token) or 'conflict:<state>'
# when it may not, else the job's fields as HGETALL gives them.
_WRITE = (
    _INDEX_PRELUDE
    + ANNOUNCE
    + _REMOVAL_DUE
    + LISTING_LUA
    + """
local old_state = redis.call('HGET', job_key, 'state')
if args.create then
  if old_state then return 'exists' end
elseif not old_state then
  return 'missing'
end
if args.unless_set and redis.call('HEXISTS', job_key, args.unless_set) == 1 then
  return 'set:' .. args.unless_set
end
if args.fence and (old_state == 'done'
    or redis.call('HGET', job_key, 'lease_owner') ~= args.fence.owner
    or tonumber(redis.call('HGET', job_key, 'lease_token')) ~= args.fence.token) then
  return 'fenced'
end
if args.expect then
  local allowed = false
  for _, state in ipairs(args.expect) do
    if state == old_state then allowed = true end
  end
  if not allowed then return 'conflict:' .. old_state end
end
local listed_before = listed_as(job_key)
for name, value in pairs(args.set) do redis.call('HSET', job_key, name, value) end
for _, name in ipairs(args.unset) do redis.call('HDEL', job_key, name) end
local new_state = redis.call('HGET', job_key, 'state')
if old_state and old_state ~= new_state then
  redis.call('SREM', state_key[old_state], args.id)
end
redis.call('SADD', state_key[new_state], args.id)
if args.finished[new_state] and not (new_state == 'done'
    and redis.call('HEXISTS', job_key, 'delete_digest') == 1) then
  redis.call('ZADD', finished_key, redis.call('HGET', job_key, 'updated_at'), args.id)
else
  redis.call('ZREM', finished_key, args.id)
end
index_removal(job_key, removable_key, args.id)
if stored_key then redis.call('SET', stored_key, args.id) end
if args.create or listed_before then relist(job_key, args.id, listed_before) end
if args.create and redis.call('EXISTS', KEYS[L.version]) == 0 then
  local jobs = 0  -- the store's first job: no job of an older version to list later
  for _, key in pairs(state_key) do jobs = jobs + redis.call('SCARD', key) end
  if jobs == 1 then redis.call('SET', KEYS[L.version], L.current) end
end
if args.announce then announce(job_key) end
return redis.call('HGETALL', job_key)
"""
)
_DELETE = (
    _INDEX_PRELUDE
    + LISTING_LUA
    + ANNOUNCE
    + """
local state = redis.call('HGET', job_key, 'state')
if not state then return 0 end
if args.announce then announce(job_key) end
local job = redis.call('HGETALL', job_key)
unlist(job_key, args.id)
if state then redis.call('SREM', state_key[state], args.id) end
redis.call('ZREM', finished_key, args.id)
redis.call('ZREM', removable_key, args.id)
if stored_key and redis.call('GET', stored_key) == args.id then redis.call('DEL', stored_key) end
redis.call('DEL', job_key)
return job
"""
)
# KEYS: the job, the removable set. ARGV: the id. The job's fields as counted, or 0.
_COUNT_DOWNLOAD = (
    _REMOVAL_DUE
    + """
if not kept(KEYS[1]) or used_up(KEYS[1]) then return 0 end
redis.call('HINCRBY', KEYS[1], 'downloads', 1)
index_removal(KEYS[1], KEYS[2], ARGV[1])
return redis.call('HGETALL', KEYS[1])
"""
)
# KEYS: the job, the finished set. ARGV: id, owner, now, new expiry. The new fencing
# token, or 0 when refused.
_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return 0
end
local holder = redis.call('HGET', KEYS[1], 'lease_owner')
if holder and holder ~= ARGV[2]
    and tonumber(redis.call('HGET', KEYS[1], 'lease_expires')) > tonumber(ARGV[3]) then
  return 0
end
redis.call('HSET', KEYS[1], 'lease_owner', ARGV[2], 'lease_expires', ARGV[4])
return redis.call('HINCRBY', KEYS[1], 'lease_token', 1)
"""
# KEYS: the job. ARGV: owner, new expiry.
_RENEW = """
if redis.call('HGET', KEYS[1], 'lease_owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'lease_expires', ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('HGET', KEYS[1], 'lease_owner') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'lease_owner')
  redis.call('HSET', KEYS[1], 'lease_expires', ARGV[2])
end
return 0
"""


def _encode(value: str | int | float) -> str:
    """Redis keeps strings; str() of a float is its shortest exact repr."""
    return str(value)


_NO_LEASE_EXPIRY = _encode(Job.lease_expires)


@dataclass(frozen=True)
class _Connection:
    """A client with its scripts, for one process: forks make their own pool."""

    pid: int
    client: redis.Redis
    write: Script
    delete: Script
    acquire: Script
    renew: Script
    release: Script
    count_download: Script
    more: dict[str, Script]  # the listing's, upload links' and outbox's scripts, by source


class RedisJobStore(RedisListing, RedisUploadLinks, RedisOutbox):
    """Jobs in Redis, shared by every worker of every instance pointed at it, with the
    listing the owner's console reads (redis_listing.py), the upload links
    (redis_links.py) and the outbox of webhook deliveries (redis_outbox.py)."""

    # The mixins' reads and writes, with Redis's connection errors as StoreUnavailable.
    list_jobs = reachable(RedisListing.list_jobs)
    totals = reachable(RedisListing.totals)
    create_link = reachable(RedisUploadLinks.create_link)
    get_link = reachable(RedisUploadLinks.get_link)
    find_link = reachable(RedisUploadLinks.find_link)
    list_links = reachable(RedisUploadLinks.list_links)
    claim_link = reachable(RedisUploadLinks.claim_link)
    release_link = reachable(RedisUploadLinks.release_link)
    revoke_link = reachable(RedisUploadLinks.revoke_link)

    name = "redis"

    def __init__(self, url: str, prefix: str = "paimon:") -> None:
        self._url = url  # may hold a password: never shown, see __repr__ and check()
        self.prefix = prefix
        self._state_keys = {state: f"{prefix}state:{state.value}" for state in JobState}
        self._finished_key = f"{prefix}finished"
        self._removable_key = f"{prefix}removable"
        self._connection: _Connection | None = None

    def __repr__(self) -> str:
        return f"RedisJobStore({location(self._url)!r}, prefix={self.prefix!r})"

    def _redis(self) -> _Connection:
        """This process's client, made on first use. No lock: two threads racing here
        make two clients and one is dropped, harmless; a lock could be inherited held."""
        connection = self._connection
        if connection is None or connection.pid != os.getpid():
            client = redis.Redis.from_url(
                self._url,
                decode_responses=True,
                socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
                socket_timeout=COMMAND_TIMEOUT_SECONDS,
                health_check_interval=HEALTH_CHECK_SECONDS,
            )
            connection = self._connection = _Connection(
                pid=os.getpid(),
                client=client,
                write=client.register_script(_WRITE),
                delete=client.register_script(_DELETE),
                acquire=client.register_script(_ACQUIRE),
                renew=client.register_script(_RENEW),
                release=client.register_script(_RELEASE),
                count_download=client.register_script(_COUNT_DOWNLOAD),
                more={},
            )
        return connection

    def _script(self, source: str) -> Script:
        """A script of the listing, the upload links or the outbox, registered on first use
        on this process's connection."""
        connection = self._redis()
        script = connection.more.get(source)
        if script is None:
            script = connection.more[source] = connection.client.register_script(source)
        return script

    def _job_key(self, job_id: str) -> str:
        return f"{self.prefix}job:{job_id}"

    def _stored_key(self, storage_key: str) -> str:
        return f"{self.prefix}stored:{storage_key}"

    def _index_keys(
        self,
        job_id: str,
        storage_key: str | None = None,
        fixed: dict[str, object] | None = None,
    ) -> tuple[list[str], dict[str, object]]:
        """The KEYS of a script that writes a job, and what ``args`` says of them: where
        its stored: key is (when it has a storage key) and the listing's keys are
        (``fixed``: the job's FIXED fields, when it is created or deleted)."""
        keys = [
            self._job_key(job_id),
            self._finished_key,
            self._removable_key,
            *self._state_keys.values(),
        ]
        places: dict[str, object] = {}
        if storage_key is not None:
            keys.append(self._stored_key(storage_key))
            places["stored"] = len(keys)
        listing, places["list"] = self._listing_keys(len(keys) + 1, job_id, fixed)
        return keys + listing, places

    def _index_args(self, job_id: str, **extra: object) -> list[str]:
        return [json.dumps({"id": job_id, "states": _STATES, "finished": _FINISHED, **extra})]

    def _write(
        self,
        job_id: str,
        values: dict[str, Stored],
        announce: Announcement | None = None,
        **mode: object,
    ) -> Job:
        storage_key = values.get("storage_key")
        fixed: dict[str, object] | None = None
        if mode.get("create"):
            fixed = {name: values[name] for name in FIXED}
        keys, places = self._index_keys(
            job_id, None if storage_key is None else str(storage_key), fixed
        )
        if announce is not None:
            announce_keys, mode["announce"] = self.announce_args(announce, job_id, len(keys) + 1)
            keys += announce_keys
        result = self._redis().write(
            keys=keys,
            args=self._index_args(
                job_id,
                set={name: _encode(v) for name, v in values.items() if v is not None},
                unset=[name for name, value in values.items() if value is None],
                **places,
                **mode,
            ),
        )
        if result == "exists":
            raise ValueError(f"a job with id {job_id!r} exists already")
        if result == "missing":
            raise JobNotFound(job_id)
        if result == "fenced":
            raise LeaseLost(f"job {job_id}: the lease with token {mode['fence']['token']} is lost")
        if isinstance(result, str) and result.startswith("set:"):
            raise StateConflict(f"job {job_id} has {result.removeprefix('set:')} set already")
        if isinstance(result, str):
            current = result.removeprefix("conflict:")
            raise StateConflict(f"job {job_id} is {current}, not one of {mode['expect']}")
        return self._job(result)

    @staticmethod
    def _job(flat_fields: list[str]) -> Job:
        """A Job from HGETALL as a Lua script returns it: name, value, name, value..."""
        return job_from_stored(dict(zip(flat_fields[::2], flat_fields[1::2], strict=True)))

    def _jobs_in(self, states: Iterable[JobState]) -> set[str]:
        return self._redis().client.sunion([self._state_keys[state] for state in states])

    def _fields_of(self, job_ids: Iterable[str], *names: str) -> list[list[str | None]]:
        """HMGET of many jobs in one round trip (no transaction: reads only)."""
        pipeline = self._redis().client.pipeline(transaction=False)
        for job_id in job_ids:
            pipeline.hmget(self._job_key(job_id), names)
        return pipeline.execute()

    @reachable
    def create(self, job: Job) -> None:
        self._write(job.id, job_to_stored(job), create=True)

    @reachable
    def get(self, job_id: str) -> Job | None:
        fields = self._redis().client.hgetall(self._job_key(job_id))
        return job_from_stored(fields) if fields else None

    @reachable
    def update(
        self,
        job_id: str,
        *,
        expect: Collection[JobState] | None = None,
        fence: Fence | None = None,
        unless_set: str | None = None,
        announce: Announcement | None = None,
        **changes: object,
    ) -> Job:
        mode: dict[str, object] = {}
        if unless_set is not None:
            if unless_set not in JOB_FIELDS:
                raise TypeError(f"Job has no field {unless_set!r}")
            mode["unless_set"] = unless_set
        if expect is not None:
            mode["expect"] = sorted(JobState(s).value for s in expect)
        if fence is not None:
            mode["fence"] = {"owner": fence.owner, "token": fence.token}
        return self._write(job_id, changes_to_stored(changes), announce, **mode)

    @reachable
    def counts(self) -> dict[JobState, int]:
        pipeline = self._redis().client.pipeline(transaction=True)  # one consistent view
        for key in self._state_keys.values():
            pipeline.scard(key)
        return dict(zip(self._state_keys, pipeline.execute(), strict=True))

    @reachable
    def acquire_lease(self, job_id: str, owner: str, ttl: float) -> int | None:
        now = time.time()
        token = self._redis().acquire(
            keys=[self._job_key(job_id), self._finished_key],
            args=[job_id, owner, _encode(now), _encode(now + ttl)],
        )
        return int(token) or None

    @reachable
    def renew_lease(self, job_id: str, owner: str, ttl: float) -> bool:
        renewed = self._redis().renew(
            keys=[self._job_key(job_id)], args=[owner, _encode(time.time() + ttl)]
        )
        return renewed == 1

    @reachable
    def release_lease(self, job_id: str, owner: str) -> None:
        self._redis().release(keys=[self._job_key(job_id)], args=[owner, _NO_LEASE_EXPIRY])

    @reachable
    def leases(self) -> dict[str, str]:
        candidates = list(self._jobs_in(set(JobState) - FINISHED))
        owners = self._fields_of(candidates, "lease_owner")
        return {
            job_id: owner
            for job_id, (owner,) in zip(candidates, owners, strict=True)
            if owner is not None
        }

    @reachable
    def resumable(self, now: float) -> list[str]:
        candidates = list(self._jobs_in(RESUMABLE))
        fields = self._fields_of(candidates, "lease_owner", "lease_expires", "created_at")
        free = [
            (float(created_at), job_id)
            for job_id, (owner, expires, created_at) in zip(candidates, fields, strict=True)
            if created_at is not None  # else deleted meanwhile
            and (owner is None or float(expires or 0.0) <= now)
        ]
        return [job_id for _, job_id in sorted(free)]

    @reachable
    def awaiting_retry(self) -> dict[str, float]:
        candidates = list(self._jobs_in([JobState.FAILED]))
        stamps = self._fields_of(candidates, "next_retry_at")
        return {
            job_id: float(at)
            for job_id, (at,) in zip(candidates, stamps, strict=True)
            if at is not None
        }

    @reachable
    def purgeable_before(self, cutoff: float) -> list[Job]:
        client = self._redis().client
        job_ids = client.zrangebyscore(self._finished_key, "-inf", f"({_encode(cutoff)}")
        return self._jobs(job_ids)

    @reachable
    def find_stored(self, storage_key: str) -> Job | None:
        job_id = self._redis().client.get(self._stored_key(storage_key))
        job = self.get(job_id) if job_id is not None else None
        return job if job is not None and job.storage_key == storage_key else None

    @reachable
    def count_download(self, job_id: str) -> Job | None:
        counted = self._redis().count_download(
            keys=[self._job_key(job_id), self._removable_key], args=[job_id]
        )
        return self._job(counted) if counted else None

    @reachable
    def removable(self, now: float) -> list[Job]:
        client = self._redis().client
        return self._jobs(client.zrangebyscore(self._removable_key, "-inf", _encode(now)))

    @reachable
    def stale_receiving(self, cutoff: float) -> list[Job]:
        candidates = list(self._jobs_in([JobState.RECEIVING]))
        stamps = self._fields_of(candidates, "updated_at")
        stale = sorted(
            (float(updated_at), job_id)
            for job_id, (updated_at,) in zip(candidates, stamps, strict=True)
            if updated_at is not None and float(updated_at) < cutoff
        )
        return self._jobs(job_id for _, job_id in stale)

    def _jobs(self, job_ids: Iterable[str]) -> list[Job]:
        """Whole jobs in one round trip, in the given order (deleted ones left out)."""
        pipeline = self._redis().client.pipeline(transaction=False)
        for job_id in job_ids:
            pipeline.hgetall(self._job_key(job_id))
        return [job_from_stored(fields) for fields in pipeline.execute() if fields]

    @reachable
    def active_spool_paths(self) -> set[str]:
        job_ids = self._jobs_in(set(JobState) - {JobState.DONE})
        return {path for (path,) in self._fields_of(job_ids, "spool_path") if path is not None}

    @reachable
    def delete(self, job_id: str, *, announce: Announcement | None = None) -> Job | None:
        names = ("storage_key", *FIXED)
        values = dict(zip(names, self._fields_of([job_id], *names)[0], strict=True))
        fixed: dict[str, object] | None = None if values["filename"] is None else dict(values)
        keys, places = self._index_keys(job_id, values["storage_key"], fixed)
        mode: dict[str, object] = {}
        if announce is not None:
            announce_keys, mode["announce"] = self.announce_args(
                announce, job_id, len(keys) + 1, occurred_at=time.time()
            )
            keys += announce_keys
        deleted = self._redis().delete(keys=keys, args=self._index_args(job_id, **places, **mode))
        return self._job(deleted) if deleted else None

    def close(self) -> None:
        """Close this process's connection pool (a later call makes a new one)."""
        connection, self._connection = self._connection, None
        if connection is not None and connection.pid == os.getpid():
            connection.client.close()

    def check(self) -> None:
        try:
            self._redis().client.ping()
        except (redis.RedisError, ValueError, OSError) as exc:
            # from None: the cause's text is shown here, scrubbed; a chained original
            # would reach the logs as it is.
            raise RuntimeError(
                f"the Redis job store at {location(self._url)} is unreachable: "
                f"{type(exc).__name__}: {self._scrubbed(str(exc))}"
            ) from None

    def _scrubbed(self, text: str) -> str:
        """Text with the URL's password blanked, however the error quotes it."""
        try:
            password = urlsplit(self._url).password
        except ValueError:
            password = None
        for secret in {password, unquote(password or "")} - {None, ""}:
            text = text.replace(secret, "***")
        return text
