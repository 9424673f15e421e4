"""The Redis query cache: entries shared by every worker and app server, keyed per org (see app/cache/__init__.py).

Every call goes through the RedisLink (app/limits/redis_link.py): short timeouts and
a circuit breaker, so a hung Redis costs milliseconds and reads as a miss.
"""
from __future__ import annotations

import json
import logging
from typing import cast

import redis

from app.cache.key import digest
from app.errors import ServiceUnavailableError
from app.errors.limits import RedisUnavailableError
from app.gateway.result import CacheKey, QueryResult, jsonable
from app.limits.redis_link import RedisLink

log = logging.getLogger("atlas.cache")


# Deletes an org's entries and its index atomically; returns how many entries existed.
_FLUSH_ORG = """
local n = 0
for _, k in ipairs(redis.call('SMEMBERS', KEYS[1])) do n = n + redis.call('DEL', k) end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return n
"""


class RedisCache:
    """Entries at `{prefix}:{org}:{digest}` as JSON with a TTL; `{prefix}:{org}:index` lists them.

    Redis being down, hung or behind an open circuit makes every lookup a miss
    and every store a no-op (logged): the database answers, slower, and no call
    waits longer than the link's timeout. A flush cannot be skipped that way,
    so it raises 503 instead.
    """

    def __init__(self, *, url: str, ttl_s: float, key_prefix: str, client: redis.Redis | None = None,
                 link: RedisLink | None = None, timeout_ms: int = 200, cooldown_s: float = 5.0) -> None:
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._prefix = key_prefix
        self.link = link or RedisLink(url=url, timeout_ms=timeout_ms, cooldown_s=cooldown_s, client=client)
        self._client = self.link.client
        self._flush = self._client.register_script(_FLUSH_ORG)

    @property
    def client(self) -> redis.Redis:
        return self._client

    def _key(self, org_id: str, name: str) -> str:
        return f"{self._prefix}:{org_id}:{name}"

    @property
    def _orgs(self) -> str:
        return f"{self._prefix}:orgs"

    def get(self, key: CacheKey) -> QueryResult | None:
        name = self._key(key.org_id, digest(key))
        try:
            # redis-py types every reply as `Awaitable | Any` (one stub for sync and async clients).
            raw = cast("bytes | None", self.link.call(lambda client: client.get(name)))
        except RedisUnavailableError as exc:
            log.info("query cache lookup skipped, treating as a miss: %s", exc)
            return None
        if raw is None:
            return None
        value = json.loads(raw)
        if value.get("org") != key.org_id:  # never serve another org's rows, whatever happened
            log.error("query cache entry for org %s held org %s; ignored", key.org_id, value.get("org"))
            return None
        return QueryResult(columns=tuple(value["columns"]), rows=tuple(tuple(r) for r in value["rows"]),
                           truncated=bool(value["truncated"]))

    def put(self, key: CacheKey, result: QueryResult) -> None:
        entry = self._key(key.org_id, digest(key))
        index = self._key(key.org_id, "index")
        payload = json.dumps({
            "org": key.org_id, "columns": [dict(c) for c in result.columns],
            "rows": [[jsonable(v) for v in row] for row in result.rows], "truncated": result.truncated,
        }, separators=(",", ":"))

        def store(client: redis.Redis) -> None:
            with client.pipeline(transaction=True) as pipe:
                pipe.psetex(entry, self._ttl_ms, payload)
                pipe.sadd(index, entry)
                pipe.pexpire(index, self._ttl_ms)  # outlives every entry it lists
                pipe.sadd(self._orgs, key.org_id)
                pipe.execute()

        try:
            self.link.call(store)
        except RedisUnavailableError as exc:
            log.info("query cache store skipped: %s", exc)

    def flush_org(self, org_id: str) -> int:
        keys = [self._key(org_id, "index"), self._orgs]
        try:
            return int(self.link.call(lambda _client: self._flush(keys=keys, args=[org_id])))
        except RedisUnavailableError as exc:
            raise ServiceUnavailableError(f"the query cache (Redis) cannot be flushed now: {exc}") from exc

    def flush_all(self) -> int:
        try:
            members = cast("set[bytes]", self.link.call(lambda client: client.smembers(self._orgs)))
            orgs = [m.decode() for m in members]
        except RedisUnavailableError as exc:
            raise ServiceUnavailableError(f"the query cache (Redis) cannot be flushed now: {exc}") from exc
        return sum(self.flush_org(org) for org in orgs)

    def entries(self, org_id: str | None = None) -> int:
        orgs = [org_id] if org_id is not None else [
            m.decode() for m in cast("set[bytes]", self._client.smembers(self._orgs))]
        total = 0
        for org in orgs:
            members = list(cast("set[bytes]", self._client.smembers(self._key(org, "index"))))
            total += cast(int, self._client.exists(*members)) if members else 0
        return total

    def close(self) -> None:
        self.link.close()
