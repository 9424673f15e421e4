"""The trusted origins, from the HTTP settings: a leaf module, so app/services.py builds the list once without a cycle."""
from __future__ import annotations

from urllib.parse import urlsplit

from app.config import HttpSettings


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of a URL, lower-cased; None if it has no scheme and host."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def trusted_origins(http: HttpSettings) -> frozenset[str]:
    """ATLAS_TRUSTED_ORIGINS, else the origin of ATLAS_PUBLIC_URL."""
    origins = {o for o in (origin_of(item) for item in http.trusted_origins) if o}
    if not origins:
        public = origin_of(http.public_url)
        origins = {public} if public else set()
    return frozenset(origins)
