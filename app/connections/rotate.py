"""`atlas connections rotate-key`: every stored password re-encrypted under the newest key.

Each org's connections are rewritten through the org-scoped door (RLS: the
app role sees one org at a time), so rotation never needs a role that reads
every org's secrets at once. Tokens already under the newest key are left
alone, so the command can be run again after an interruption. The orgs are
listed on the admin connection (DATABASE_URL), as `atlas` resolves org slugs,
with where each lives: an org in a dedicated database keeps its connections
there (docs/placement.md), so its rows are rewritten in that database.
"""
from __future__ import annotations

from app.config import Settings
from app.connections import store
from app.credentials import CredentialBox
from app.db import Database
from app.db.connect import open_connection
from app.placement.locations import role_conninfo
from app.sso import providers as sso_providers


def rotate_keys(settings: Settings, box: CredentialBox) -> dict[str, int]:
    """{"orgs", "connections", "rotated", "ssoProviders", "ssoRotated"}; ConfigurationError if some token opens
    with no configured key."""
    with open_connection("connections.rotate", settings.database.url) as conn:
        orgs = conn.execute("SELECT o.id, p.location FROM organizations o"
                            " LEFT JOIN org_placements p ON p.organization_id = o.id ORDER BY o.id").fetchall()
    by_location: dict[str | None, list[object]] = {}
    for org, location in orgs:
        by_location.setdefault(location, []).append(org)
    counts = {"orgs": 0, "connections": 0, "rotated": 0, "ssoProviders": 0, "ssoRotated": 0}
    for location, placed in sorted(by_location.items(), key=lambda item: item[0] or ""):
        url = settings.database.app_database_url if location is None else role_conninfo(settings.database.app_database_url, location)
        db = Database(url, min_size=0, max_size=1, name="atlas-rotate-key").open()
        try:
            for org in placed:
                _rotate_org(db, box, org, counts)
        finally:
            db.close()
    # SSO client secrets (app/sso) live in the shared database whatever an org's placement.
    db = Database(settings.database.app_database_url, min_size=0, max_size=1, name="atlas-rotate-key").open()
    try:
        for org, _ in orgs:
            with db.transaction(org) as scope:
                providers, rotated = sso_providers.rotate_secrets(scope, box)
            counts["ssoProviders"] += providers
            counts["ssoRotated"] += rotated
    finally:
        db.close()
    return counts


def _rotate_org(db: Database, box: CredentialBox, org: object, counts: dict[str, int]) -> None:
    with db.transaction(org) as scope:
        rows = scope.fetch_all("SELECT id, password_ciphertext FROM org_connections ORDER BY id FOR UPDATE")
        counts["orgs"] += 1 if rows else 0
        for row in rows:
            counts["connections"] += 1
            if not box.is_current(row["password_ciphertext"]):
                store.set_ciphertext(scope, row["id"], box.rotate(row["password_ciphertext"]))
                counts["rotated"] += 1
