"""`atlas connections rotate-key`: every stored password re-encrypted under the newest key.

Each org's connections are rewritten through the org-scoped door (RLS: the
app role sees one org at a time), so rotation never needs a role that reads
every org's secrets at once. Tokens already under the newest key are left
alone, so the command can be run again after an interruption. The orgs are
listed on the admin connection (DATABASE_URL), as `atlas` resolves org slugs.
"""
from __future__ import annotations

import psycopg

from app.config import Settings
from app.connections import store
from app.connections.crypto import CredentialBox
from app.db import Database


def rotate_keys(settings: Settings, box: CredentialBox) -> dict[str, int]:
    """{"orgs", "connections", "rotated"}; ConfigurationError if some token opens with no configured key."""
    with psycopg.connect(settings.database_url) as conn:
        orgs = [row[0] for row in conn.execute("SELECT id FROM organizations ORDER BY id")]
    counts = {"orgs": 0, "connections": 0, "rotated": 0}
    db = Database(settings.app_database_url, min_size=0, max_size=1, name="atlas-rotate-key").open()
    try:
        for org in orgs:
            with db.transaction(org) as scope:
                rows = scope.fetch_all("SELECT id, password_ciphertext FROM org_connections ORDER BY id FOR UPDATE")
                counts["orgs"] += 1 if rows else 0
                for row in rows:
                    counts["connections"] += 1
                    if not box.is_current(row["password_ciphertext"]):
                        store.set_ciphertext(scope, row["id"], box.rotate(row["password_ciphertext"]))
                        counts["rotated"] += 1
    finally:
        db.close()
    return counts
