"""The query cache backends and the rate limiters, each behaviour against both backends.

Redis runs at 127.0.0.1:6379; every test uses a key prefix of its own and
deletes it afterwards.
"""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from app.cache import MemoryCache, make_cache
from app.cache.redis_cache import RedisCache
from app.config import CacheSettings, Settings
from app.errors import ServiceUnavailableError
from app.errors.configuration import ConfigurationError
from app.gateway.result import CacheKey, QueryResult

REDIS_URL = "redis://127.0.0.1:6379/0"
ORG_A, ORG_B = str(uuid.uuid4()), str(uuid.uuid4())
SQL = "SELECT name FROM accounts WHERE accounts.org_id = 'x' LIMIT 1001"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def key(org: str, *, sql: str = SQL, version: str = "v1", role: str = "member") -> CacheKey:
    return CacheKey(sql=sql, org_id=org, claims=(("role", role),), config_version=version)


def result(*names: str) -> QueryResult:
    return QueryResult(columns=({"name": "name", "type": "text"},), rows=tuple((n,) for n in names),
                       truncated=False)


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    name = f"atlas-test:{uuid.uuid4().hex[:12]}"
    yield name
    keys = list(redis_client.scan_iter(match=f"{name}:*"))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture(params=["memory", "redis"])
def backend(request, prefix: str) -> Iterator[tuple[MemoryCache | RedisCache, Callable[[float], None]]]:
    """A cache with a 1 s TTL and a way to let time pass (a fake clock in memory, real time in Redis)."""
    if request.param == "memory":
        clock = Clock()
        cache: MemoryCache | RedisCache = MemoryCache(ttl_s=1.0, max_size=100, clock=clock)

        def advance(seconds: float) -> None:
            clock.now += seconds
    else:
        cache = RedisCache(url=REDIS_URL, ttl_s=1.0, key_prefix=prefix)

        def advance(seconds: float) -> None:
            time.sleep(seconds)
    yield cache, advance
    cache.close()


def test_same_sql_in_two_orgs_is_two_entries_and_never_crosses(backend):
    cache, _ = backend
    cache.put(key(ORG_A), result("Acme"))
    assert cache.get(key(ORG_B)) is None
    cache.put(key(ORG_B), result("Globex"))
    assert cache.get(key(ORG_A)).rows == (("Acme",),)
    assert cache.get(key(ORG_B)).rows == (("Globex",),)
    assert cache.entries(ORG_A) == 1 and cache.entries(ORG_B) == 1 and cache.entries() == 2


@pytest.mark.parametrize("other", [
    {"version": "v2"}, {"role": "admin"}, {"sql": SQL.replace("1001", "11")},
], ids=["config_version", "claims", "sql"])
def test_every_key_part_decides(backend, other):
    cache, _ = backend
    cache.put(key(ORG_A), result("Acme"))
    assert cache.get(key(ORG_A, **other)) is None
    assert cache.get(key(ORG_A)) is not None


def test_entries_expire_after_the_ttl(backend):
    cache, advance = backend
    cache.put(key(ORG_A), result("Acme"))
    advance(0.5)
    assert cache.get(key(ORG_A)) is not None
    advance(0.7)
    assert cache.get(key(ORG_A)) is None
    assert cache.entries(ORG_A) == 0


def test_an_org_flush_leaves_other_orgs(backend):
    cache, _ = backend
    cache.put(key(ORG_A), result("a1"))
    cache.put(key(ORG_A, version="v2"), result("a2"))
    cache.put(key(ORG_B), result("b"))
    assert cache.flush_org(ORG_A) == 2
    assert cache.get(key(ORG_A)) is None and cache.get(key(ORG_A, version="v2")) is None
    assert cache.get(key(ORG_B)).rows == (("b",),)
    assert cache.flush_org(ORG_A) == 0


def test_a_full_flush_empties_every_org(backend):
    cache, _ = backend
    cache.put(key(ORG_A), result("a"))
    cache.put(key(ORG_B), result("b"))
    assert cache.flush_all() == 2
    assert cache.get(key(ORG_A)) is None and cache.get(key(ORG_B)) is None and cache.entries() == 0


def test_values_round_trip_as_the_api_renders_them(backend):
    import datetime as dt
    import decimal

    cache, _ = backend
    value = QueryResult(columns=({"name": "n", "type": "numeric"}, {"name": "t", "type": "timestamptz"}),
                        rows=((decimal.Decimal("12.50"), dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)),
                              (None, None)), truncated=True)
    cache.put(key(ORG_A), value)
    assert cache.get(key(ORG_A)).to_json() == value.to_json()


def test_memory_cache_evicts_the_least_recently_used():
    cache = MemoryCache(ttl_s=60, max_size=2, clock=Clock())
    cache.put(key(ORG_A, version="1"), result("1"))
    cache.put(key(ORG_A, version="2"), result("2"))
    assert cache.get(key(ORG_A, version="1")) is not None  # 1 is now the most recently used
    cache.put(key(ORG_A, version="3"), result("3"))
    assert cache.get(key(ORG_A, version="2")) is None
    assert cache.get(key(ORG_A, version="1")) is not None and cache.get(key(ORG_A, version="3")) is not None
    assert cache.entries() == 2


def test_redis_entries_are_json_under_the_orgs_prefix_with_a_ttl(redis_client, prefix):
    cache = RedisCache(url=REDIS_URL, ttl_s=300, key_prefix=prefix)
    try:
        cache.put(key(ORG_A), result("Acme"))
        entry = [k.decode() for k in redis_client.smembers(f"{prefix}:{ORG_A}:index")]
        assert len(entry) == 1 and entry[0].startswith(f"{prefix}:{ORG_A}:")
        assert json.loads(redis_client.get(entry[0]))["rows"] == [["Acme"]]
        assert 0 < redis_client.pttl(entry[0]) <= 300_000
    finally:
        cache.close()


def test_a_redis_entry_holding_another_org_is_never_served(redis_client, prefix):
    """Defence in depth: even a planted or corrupted entry under A's key with B's org is a miss."""
    cache = RedisCache(url=REDIS_URL, ttl_s=300, key_prefix=prefix)
    try:
        cache.put(key(ORG_A), result("Acme"))
        entry = redis_client.smembers(f"{prefix}:{ORG_A}:index").pop()
        planted = json.loads(redis_client.get(entry))
        redis_client.set(entry, json.dumps({**planted, "org": ORG_B, "rows": [["Globex"]]}))
        assert cache.get(key(ORG_A)) is None
    finally:
        cache.close()


def test_redis_down_is_a_miss_but_a_flush_is_refused():
    cache = RedisCache(url="redis://127.0.0.1:1/0", ttl_s=300, key_prefix="atlas-test:down")
    try:
        cache.put(key(ORG_A), result("Acme"))
        assert cache.get(key(ORG_A)) is None
        with pytest.raises(ServiceUnavailableError):
            cache.flush_org(ORG_A)
    finally:
        cache.close()


# ----- configuration -------------------------------------------------------------------------------

def test_the_environment_reaches_the_cache_through_settings_and_defaults_fill_the_rest():
    env = {"ATLAS_CACHE_BACKEND": "redis", "ATLAS_CACHE_TTL_S": "12", "ATLAS_CACHE_KEY_PREFIX": "env:qc"}
    config = Settings.from_env({**env, "ATLAS_CACHE_MAX_SIZE": "7"}).cache
    assert config == CacheSettings(backend="redis", ttl_s=12.0, max_size=7, key_prefix="env:qc")
    assert Settings.from_env({}).cache == CacheSettings()
    assert isinstance(make_cache(CacheSettings()), MemoryCache) and make_cache(CacheSettings(backend="none")) is None


@pytest.mark.parametrize("config", [{"ATLAS_CACHE_BACKEND": "memcached"}, {"ATLAS_CACHE_TTL_S": "soon"},
                                    {"ATLAS_CACHE_TTL_S": "0"}, {"ATLAS_CACHE_MAX_SIZE": "0"}])
def test_bad_cache_settings_are_named(config):
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env(config)
    assert next(iter(config)) in raised.value.message
