"""The Redis store's listing (paimon/jobs/listing.py): sorted sets scored by ``created_at``,
kept by the same Lua scripts that write the jobs, so they always agree with them.

Keys, under the store's prefix:

- ``list:all``, ``list:state:<state>``, ``list:backend:<backend>``,
  ``list:uploader:<label>``, ``list:link:<link id>`` and ``list:removed``: the ids of
  the jobs of each index, scored by ``created_at``;
- ``list:prefix:<p>``: the ids of the jobs whose name key starts with ``p``, for each
  ``p`` of the first ``PREFIX_INDEXED`` characters or fewer (``i``, ``im``, ``img``),
  scored by ``created_at``;
- ``list:names``: every job as ``<name key>\0<created_at>\0<id>``, all scored 0, so
  ZRANGEBYLEX reads the jobs whose names start with a prefix;
- ``totals``: a hash of uploads and bytes by state (``uploads:<state>``,
  ``bytes:<state>``), and ``totals:days`` the same per UTC day of creation
  (``<day>:uploads:<state>``...), so totals cost a few hash reads however many jobs
  there are;
- in each job's hash, ``name_key`` (what its name is searched by) and ``listed``;
- ``list:version``: set once every job a version without listing made is listed too
  (a job carries ``listed`` in its hash once it is in the indexes and totals), or
  when the store's first job is created.

A page is walked in Redis by one script (``WALK``), in one round trip: it takes the
smallest of the time-ordered indexes the query could walk (its ``driving_index`` and,
with a name, the prefix index of the name's first ``PREFIX_INDEXED`` characters), reads
it from the cursor on, checks the query's filters on a few fields of each job, and
answers the hits' hashes. A name of up to ``PREFIX_INDEXED`` characters is its own
index, so its page costs O(log n + page) whatever the number of jobs; a longer name
that at most ``NAME_MATCHES_SORTED`` names start with (``invoice-42``) is read from
``list:names`` and sorted by time (``paimon.jobs.listing.sorted_reads``), and a more
common one (``img_2026``) walks its first characters' index, checking the rest.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from paimon.jobs import listing
from paimon.jobs.listing import (
    Cursor,
    JobPage,
    JobQuery,
    Tally,
    Totals,
    after_cursor,
    batch_sizes,
    driving_index,
    name_key,
    name_range,
    paginate,
    sorted_reads,
    today,
)
from paimon.jobs.model import Job, JobState

LISTING_VERSION = "1"
#: The fields that decide which fixed indexes a job is in, and its place among names.
FIXED = ("filename", "created_at", "backend", "uploader_label", "upload_link")
NUL = "\0"
#: Each name's first one, two ... this many characters (of its key) have an index of
#: their own: three more sorted-set entries per job, and a short prefix (the common
#: kind: ``img``, ``scr``, ``2026``'s first three) is paged like an unfiltered listing.
PREFIX_INDEXED = 3

# Lua shared by the scripts that write jobs. ``args.list`` names the KEYS of the
# listing: all, removed, totals, days, version, names, states (by state) and fixed (the
# job's backend, uploader and link indexes) with ``name`` (its member of the names
# index): given when a job is created or deleted, else empty.
LISTING_LUA = """
local L = args.list
local function weight(key)
  local size = redis.call('HGET', key, 'size')
  return tonumber(size or redis.call('HGET', key, 'bytes_received') or '0')
end
local function day_of(key)
  return string.format('%d', math.floor(tonumber(redis.call('HGET', key, 'created_at')) / 86400))
end
local function add(key, name, amount)  -- a count that drops to zero goes
  if redis.call('HINCRBY', key, name, string.format('%d', amount)) == 0 then
    redis.call('HDEL', key, name)
  end
end
local function tally(state, day, uploads, bytes)
  add(KEYS[L.totals], 'uploads:' .. state, uploads)
  add(KEYS[L.totals], 'bytes:' .. state, bytes)
  add(KEYS[L.days], day .. ':uploads:' .. state, uploads)
  add(KEYS[L.days], day .. ':bytes:' .. state, bytes)
end
local function listed_as(key)
  if redis.call('HGET', key, 'listed') ~= '1' then return nil end
  return {state = redis.call('HGET', key, 'state'), bytes = weight(key)}
end
local function relist(key, id, before)
  local created = redis.call('HGET', key, 'created_at')
  local state = redis.call('HGET', key, 'state')
  local day = day_of(key)
  if before then
    tally(before.state, day, -1, -before.bytes)
    if before.state ~= state then redis.call('ZREM', KEYS[L.states[before.state]], id) end
  else
    redis.call('ZADD', KEYS[L.all], created, id)
    for _, i in ipairs(L.fixed) do redis.call('ZADD', KEYS[i], created, id) end
    if L.name then
      redis.call('ZADD', KEYS[L.names], 0, L.name)
      redis.call('HSET', key, 'name_key', L.key)
    end
    redis.call('HSET', key, 'listed', '1')
  end
  redis.call('ZADD', KEYS[L.states[state]], created, id)
  tally(state, day, 1, weight(key))
  if redis.call('HEXISTS', key, 'removed_at') == 1 then
    redis.call('ZADD', KEYS[L.removed], created, id)
  else
    redis.call('ZREM', KEYS[L.removed], id)
  end
end
local function unlist(key, id)
  local before = listed_as(key)
  if not before then return end
  tally(before.state, day_of(key), -1, -before.bytes)
  redis.call('ZREM', KEYS[L.all], id)
  redis.call('ZREM', KEYS[L.states[before.state]], id)
  redis.call('ZREM', KEYS[L.removed], id)
  for _, i in ipairs(L.fixed) do redis.call('ZREM', KEYS[i], id) end
  if L.name then redis.call('ZREM', KEYS[L.names], L.name) end
end
"""
# KEYS: the job, then the listing's. Lists a job an older version made, once.
LIST_ONE = (
    "local args = cjson.decode(ARGV[1])\n"
    + LISTING_LUA
    + """
if redis.call('EXISTS', KEYS[1]) == 1 and not listed_as(KEYS[1]) then
  relist(KEYS[1], args.id, nil)
end
return 0
"""
)

# KEYS: the time-ordered indexes the query could walk (the smallest is walked). ARGV[1]:
# ``job`` (the job keys' prefix), ``max`` and ``min`` (ZREVRANGEBYSCORE's bounds),
# ``after`` (the cursor's id when ``max`` is its time: the entries at that very time
# not after it are skipped), ``sizes`` (how many entries each read takes: at most
# SCAN_BUDGET in all), ``limit`` and ``filter`` (the query's filters, absent: none).
# Answers whether the index ended, where the walk stopped, and the hits' HGETALLs, at
# most limit + 1. The job hashes it reads are not in KEYS (which ones is what the walk
# finds out): like every key of the store, they are on the one Redis it uses.
WALK = """
local args = cjson.decode(ARGV[1])
local index, smallest = KEYS[1], redis.call('ZCARD', KEYS[1])
for i = 2, #KEYS do
  local size = redis.call('ZCARD', KEYS[i])
  if size < smallest then index, smallest = KEYS[i], size end
end
local f = args.filter
local function admits(key)
  if not f then return true end
  local v = redis.call('HMGET', key, 'state', 'backend', 'uploader_label', 'upload_link',
                       'name_key', 'removed_at')
  if not v[1] then return false end  -- deleted meanwhile
  if f.states and not f.states[v[1]] then return false end
  if f.backend and f.backend ~= v[2] then return false end
  if f.uploader_label and f.uploader_label ~= v[3] then return false end
  if f.upload_link and f.upload_link ~= v[4] then return false end
  if f.key and string.sub(v[5] or '', 1, #f.key) ~= f.key then return false end
  if f.removed ~= nil and f.removed ~= (v[6] ~= false) then return false end
  return true
end
local skip = 0
if args.after then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', index, args.max, args.max)) do
    if id >= args.after then skip = skip + 1 end
  end
end
local hits, last = {}, {}
for _, size in ipairs(args.sizes) do
  local batch = redis.call('ZREVRANGEBYSCORE', index, args.max, args.min, 'WITHSCORES',
                           'LIMIT', skip, size)
  for i = 1, #batch, 2 do
    last = {batch[i + 1], batch[i]}
    local key = args.job .. batch[i]
    if admits(key) then
      local fields = redis.call('HGETALL', key)
      if #fields > 0 then
        hits[#hits + 1] = fields
        if #hits > args.limit then return {0, last, hits} end
      end
    end
  end
  if #batch / 2 < size then return {1, last, hits} end  -- the index has no more
  skip = skip + size
end
return {0, last, hits}  -- the budget is spent: the next page goes on from here
"""


class RedisListing:
    """JobListing for RedisJobStore (a mixin: it uses the store's client, scripts and
    keys, hence ``self: Any``), and the keys its write scripts keep."""

    prefix: str
    _listed_in: int | None = None  # the process that found every job listed

    def _list_key(self, *parts: str) -> str:
        return f"{self.prefix}list:{':'.join(parts)}"

    def _prefix_key(self, prefix: str) -> str:
        return self._list_key("prefix", prefix)

    def _state_list_key(self, state: JobState) -> str:
        return self._list_key("state", state.value)

    def _fixed_list_keys(self, fields: dict[str, object]) -> list[str]:
        """The time-ordered indexes a job is in for good, from its FIXED fields."""
        keys = [self._list_key("backend", str(fields["backend"]))]
        keys += [self._prefix_key(prefix) for prefix in _prefixes(str(fields["filename"]))]
        if fields.get("uploader_label") is not None:
            keys.append(self._list_key("uploader", str(fields["uploader_label"])))
        if fields.get("upload_link") is not None:
            keys.append(self._list_key("link", str(fields["upload_link"])))
        return keys

    def _listing_keys(
        self, first: int, job_id: str, fixed: dict[str, object] | None = None
    ) -> tuple[list[str], dict[str, object]]:
        """The listing's KEYS, starting at KEYS index ``first``, and ``args.list``."""
        keys = [
            self._list_key("all"),
            self._list_key("removed"),
            f"{self.prefix}totals",
            f"{self.prefix}totals:days",
            self._list_key("version"),
            self._list_key("names"),
        ]
        states = {}
        for state in JobState:
            states[state.value] = first + len(keys)
            keys.append(self._state_list_key(state))
        fixed_keys = self._fixed_list_keys(fixed) if fixed is not None else []
        places = {
            "all": first,
            "removed": first + 1,
            "totals": first + 2,
            "days": first + 3,
            "version": first + 4,
            "names": first + 5,
            "current": LISTING_VERSION,
            "states": states,
            "fixed": list(range(first + len(keys), first + len(keys) + len(fixed_keys))),
        }
        if fixed is not None:
            places["key"] = name_key(str(fixed["filename"]))
            places["name"] = _name_member(job_id, places["key"], fixed)
        return keys + fixed_keys, places

    def _driving_key(self, query: JobQuery) -> str:
        kind, key = driving_index(query)
        return self._list_key(kind) if key is None else self._list_key(kind, key)

    def list_jobs(self: Any, query: JobQuery) -> JobPage:
        self._ensure_listed()
        client = self._redis().client
        indexes = [self._driving_key(query)]
        key = query.name_key
        if key:
            if len(key) > PREFIX_INDEXED:
                names, low, high = self._list_key("names"), *name_range(key)
                if client.zlexcount(names, f"[{low}", f"({high}") <= listing.NAME_MATCHES_SORTED:
                    members = client.zrangebylex(names, f"[{low}", f"({high}")  # a rare name
                    matches = [_place(member) for member in members]
                    ordered = after_cursor(matches, query)
                    return paginate(query, sorted_reads(ordered, self._jobs_by_id, query))
            indexes.append(self._prefix_key(key[:PREFIX_INDEXED]))
        ended, last, hits = self._script(WALK)(
            keys=indexes, args=[json.dumps(_walk_args(query, f"{self.prefix}job:"))]
        )
        jobs = [self._job(fields) for fields in hits]
        if len(jobs) > query.limit:
            end = jobs[query.limit - 1]
            return JobPage(jobs[: query.limit], Cursor(end.created_at, end.id))
        if ended:
            return JobPage(jobs, None)
        score, job_id = last
        return JobPage(jobs, Cursor(float(score), job_id))

    def _jobs_by_id(self: Any, job_ids: list[str]) -> dict[str, Job]:
        return {job.id: job for job in self._jobs(job_ids)}

    def totals(self: Any, now: float | None = None) -> Totals:
        self._ensure_listed()
        day = str(today(now))
        names = [
            f"{day}:{what}:{state.value}" for state in JobState for what in ("uploads", "bytes")
        ]
        pipeline = self._redis().client.pipeline(transaction=True)
        pipeline.hgetall(f"{self.prefix}totals")
        pipeline.hmget(f"{self.prefix}totals:days", names)
        every, recent = pipeline.execute()
        recent = dict(zip(names, recent, strict=True))

        def tally(values: dict[str, str | None], at: str) -> dict[JobState, Tally]:
            return {
                state: Tally(
                    int(values.get(f"{at}uploads:{state.value}") or 0),
                    int(values.get(f"{at}bytes:{state.value}") or 0),
                )
                for state in JobState
            }

        return Totals(all=tally(every, ""), today=tally(recent, f"{day}:"))

    def _ensure_listed(self: Any) -> None:
        """List every job an older version made (once per store, checked once per
        process): each by a script that lists it only if it is not listed yet, so
        processes doing it at once, and writes meanwhile, count every job once."""
        if self._listed_in == os.getpid():
            return
        client = self._redis().client
        version_key = self._list_key("version")
        if client.get(version_key) != LISTING_VERSION:
            job_ids = sorted(client.sunion(list(self._state_keys.values())))
            for start in range(0, len(job_ids), 500):
                self._list_older(job_ids[start : start + 500])
            client.set(version_key, LISTING_VERSION)
        self._listed_in = os.getpid()

    def _list_older(self: Any, job_ids: Iterable[str]) -> None:
        job_ids = list(job_ids)
        list_one = self._script(LIST_ONE)
        for job_id, values in zip(job_ids, self._fields_of(job_ids, *FIXED), strict=True):
            fields = dict(zip(FIXED, values, strict=True))
            if fields["filename"] is None:  # deleted meanwhile
                continue
            keys, places = self._listing_keys(2, job_id, fields)
            list_one(
                keys=[self._job_key(job_id), *keys],
                args=[json.dumps({"id": job_id, "list": places})],
            )


def _name_member(job_id: str, key: str, fixed: dict[str, object]) -> str:
    """A job's member of the names index: its name key, creation time and id (the time
    as Redis keeps it in the job's hash: repr of the float)."""
    return NUL.join([key, str(fixed["created_at"]), job_id])


def _place(member: str) -> Cursor:
    """Where a member of the names index stands in time."""
    _, created_at, job_id = member.rsplit(NUL, 2)
    return Cursor(float(created_at), job_id)


def _prefixes(filename: str) -> list[str]:
    """The prefixes of a name's key that have an index: its first 1 to PREFIX_INDEXED
    characters."""
    key = name_key(filename)
    return [key[:length] for length in range(1, min(len(key), PREFIX_INDEXED) + 1)]


def _walk_args(query: JobQuery, job_prefix: str) -> dict[str, object]:
    """WALK's ARGV: the score range from the cursor on, within the query's dates, the
    batch sizes, and the filters the index walked may not apply."""
    highest, after = "+inf", None
    if query.created_before is not None:
        highest = f"({query.created_before!r}"
    position = query.after
    if position is not None and (
        query.created_before is None or position.created_at < query.created_before
    ):
        highest, after = repr(position.created_at), position.id
    walk: dict[str, object] = {
        "job": job_prefix,
        "max": highest,
        "min": "-inf" if query.created_from is None else repr(query.created_from),
        "sizes": batch_sizes(query.limit),
        "limit": query.limit,
    }
    if after is not None:
        walk["after"] = after
    if query.filtered:
        checks: dict[str, object] = {
            "backend": query.backend,
            "uploader_label": query.uploader_label,
            "upload_link": query.upload_link,
            "key": query.name_key,
            "removed": query.removed,
        }
        if query.states:
            checks["states"] = {state.value: True for state in query.states}
        walk["filter"] = {name: value for name, value in checks.items() if value is not None}
    return walk
