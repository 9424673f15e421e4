"""Which org the operator means on the command line: an id, or a slug looked up once."""
from __future__ import annotations

import uuid

from app.db.connect import open_connection
from app.errors import NotFoundError


def resolve_org_id(database_url: str, org: str) -> uuid.UUID:
    """The org id for `org` (a UUID as is; a slug from organizations, on the admin URL).

    Raises NotFoundError when no organization has that slug.
    """
    try:
        return uuid.UUID(org)
    except ValueError:
        pass
    with open_connection("gateway.org_lookup", database_url) as conn:
        row = conn.execute("SELECT id FROM organizations WHERE slug = %s", (org,)).fetchone()
    if row is None:
        raise NotFoundError(f"no organization has id or slug {org!r}")
    org_id: uuid.UUID = row[0]
    return org_id
