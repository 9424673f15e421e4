"""The name of a query cache entry, shared by the memory and the Redis cache (app/cache/__init__.py, app/cache/redis_cache.py)."""
from __future__ import annotations

import hashlib
import json

from app.gateway.result import CacheKey


def digest(key: CacheKey) -> str:
    """One name for everything that decides what an entry may be served for."""
    material = json.dumps(
        [key.org_id, key.connection_id, [list(c) for c in key.claims], key.config_version, key.sql],
        separators=(",", ":"),
    )
    return hashlib.sha256(material.encode()).hexdigest()
