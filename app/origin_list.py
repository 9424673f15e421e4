"""The trusted origins, from config: a leaf module, so app/state.py builds the list once without a cycle."""
from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of a URL, lower-cased; None if it has no scheme and host."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def trusted_origins(config: Mapping[str, object]) -> frozenset[str]:
    """TRUSTED_ORIGINS (a list, or a comma-separated string), else PUBLIC_URL's origin."""
    configured = config.get("TRUSTED_ORIGINS") or ""
    items = configured.split(",") if isinstance(configured, str) else list(configured)  # type: ignore[call-overload]  # a list from a test's mapping
    origins = {o for o in (origin_of(str(item)) for item in items if str(item).strip()) if o}
    if not origins:
        public = origin_of(str(config.get("PUBLIC_URL") or ""))
        origins = {public} if public else set()
    return frozenset(origins)
