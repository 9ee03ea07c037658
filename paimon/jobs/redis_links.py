"""The Redis store's upload links (paimon/jobs/links.py). Keys, under the store's prefix:
``link:<id>`` (a hash, one field per UploadLink field), ``linktoken:<digest>`` (the id
of the link whose token has that digest) and ``links`` (ids scored by creation). A
claim is one Lua script: checked and counted atomically, whoever else claims."""

from __future__ import annotations

from typing import Any

from paimon.jobs.codec import link_from_stored, link_to_stored
from paimon.jobs.links import LinkNotFound, LinkRefused, UploadLink

# KEYS: the link, its token's key, the links set. ARGV: id, created_at, then name,
# value pairs.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('SET', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
"""
# KEYS: the link. ARGV: files, bytes, now. The link's fields as counted, else why not.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
local function number(name)
  local value = redis.call('HGET', KEYS[1], name)
  return value and tonumber(value)
end
if number('revoked_at') then return 'revoked' end
local expires = number('expires_at')
if expires and expires <= tonumber(ARGV[3]) then return 'expired' end
local most_files, most_bytes = number('max_files'), number('max_total_bytes')
if most_files and number('files') + tonumber(ARGV[1]) > most_files then return 'files' end
if most_bytes and number('bytes') + tonumber(ARGV[2]) > most_bytes then return 'bytes' end
redis.call('HINCRBY', KEYS[1], 'files', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'bytes', ARGV[2])
return redis.call('HGETALL', KEYS[1])
"""
# KEYS: the link. ARGV: files, bytes given back.
_RELEASE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i, name in ipairs({'files', 'bytes'}) do
  local left = tonumber(redis.call('HGET', KEYS[1], name)) - tonumber(ARGV[i])
  redis.call('HSET', KEYS[1], name, string.format('%d', math.max(0, left)))
end
return 0
"""
# KEYS: the link. ARGV: now. The link's fields, or 0 when there is none.
_REVOKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSETNX', KEYS[1], 'revoked_at', ARGV[1])
return redis.call('HGETALL', KEYS[1])
"""


def _link(flat: list[str]) -> UploadLink:
    """An UploadLink from HGETALL as a Lua script returns it: name, value, ..."""
    return link_from_stored(dict(zip(flat[::2], flat[1::2], strict=True)))


class RedisUploadLinks:
    """UploadLinkStore for RedisJobStore (a mixin: it uses the store's client and
    scripts, hence ``self: Any``)."""

    def _link_key(self: Any, link_id: str) -> str:
        return f"{self.prefix}link:{link_id}"

    def create_link(self: Any, link: UploadLink) -> None:
        pairs = [
            str(part)
            for item in link_to_stored(link).items()
            if item[1] is not None
            for part in item
        ]
        created = self._script(_CREATE)(
            keys=[
                self._link_key(link.id),
                f"{self.prefix}linktoken:{link.token_digest}",
                f"{self.prefix}links",
            ],
            args=[link.id, repr(link.created_at), *pairs],
        )
        if not created:
            raise ValueError(f"an upload link with id {link.id!r} exists already")

    def get_link(self: Any, link_id: str) -> UploadLink | None:
        fields = self._redis().client.hgetall(self._link_key(link_id))
        return link_from_stored(fields) if fields else None

    def find_link(self: Any, token_digest: str) -> UploadLink | None:
        link_id = self._redis().client.get(f"{self.prefix}linktoken:{token_digest}")
        link = self.get_link(link_id) if link_id is not None else None
        return link if link is not None and link.token_digest == token_digest else None

    def list_links(self: Any) -> list[UploadLink]:
        client = self._redis().client
        pipeline = client.pipeline(transaction=False)
        for link_id in client.zrevrange(f"{self.prefix}links", 0, -1):
            pipeline.hgetall(self._link_key(link_id))
        return [link_from_stored(fields) for fields in pipeline.execute() if fields]

    def claim_link(self: Any, link_id: str, files: int, nbytes: int, now: float) -> UploadLink:
        result = self._script(_CLAIM)(
            keys=[self._link_key(link_id)], args=[files, nbytes, repr(now)]
        )
        if result == "missing":
            raise LinkNotFound(link_id)
        if isinstance(result, str):
            current = self.get_link(link_id)
            if current is None:
                raise LinkNotFound(link_id)
            raise LinkRefused(result, current)  # type: ignore[arg-type]
        return _link(result)

    def release_link(self: Any, link_id: str, files: int, nbytes: int) -> None:
        self._script(_RELEASE)(keys=[self._link_key(link_id)], args=[files, nbytes])

    def revoke_link(self: Any, link_id: str, now: float) -> UploadLink | None:
        result = self._script(_REVOKE)(keys=[self._link_key(link_id)], args=[repr(now)])
        return _link(result) if result else None
