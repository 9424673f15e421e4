"""The org's entries in the shared query cache (Redis), flushed after its rows changed under it."""
from __future__ import annotations

from app.cache import make_cache
from app.config import Settings
from app.errors import AtlasError


def flush_org_cache(settings: Settings, org: str) -> str:
    """Flush the org's Redis cache entries; say what was done (in-process caches expire by their TTL)."""
    config = settings.cache
    if config.backend != "redis":
        return f"{config.backend} backend: each server's entries expire within ATLAS_CACHE_TTL_S ({config.ttl_s:.0f} s)"
    cache = make_cache(config)
    assert cache is not None
    try:
        return f"{cache.flush_org(org)} Redis entries flushed"
    except AtlasError as exc:
        return f"not flushed ({exc.message}); entries expire within ATLAS_CACHE_TTL_S ({config.ttl_s:.0f} s)"
