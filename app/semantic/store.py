"""The semantic_entities table, the source of truth for each org's layer.

Every function takes a Scope from ``Database.transaction(org_id)``: the rows it
sees and writes are the scope's org's (RLS), and each query also names the org
explicitly, like app/crm/repository.py, so a missing policy would not widen it.
"""
from __future__ import annotations

import hashlib
from typing import Any, Mapping

from app.db import Scope
from app.serialize import value_json

_RETURNING = "name, yaml_content, version, updated_by, created_at, updated_at"


def upsert(scope: Scope, name: str, yaml_content: str, *, user_id: object = None) -> tuple[dict, bool]:
    """Create or replace one entity; the version goes up only when the YAML changed.

    Returns (row, changed). Identical content leaves the row (and so the org's
    semantic version, and every cache entry keyed on it) untouched.
    """
    row = scope.fetch_one(
        f"""
        INSERT INTO semantic_entities (org_id, name, yaml_content, updated_by)
        VALUES (%(org)s, %(name)s, %(yaml)s, %(user)s)
        ON CONFLICT (org_id, name) DO UPDATE
            SET yaml_content = EXCLUDED.yaml_content,
                version = semantic_entities.version + 1,
                updated_by = EXCLUDED.updated_by,
                updated_at = clock_timestamp()
            WHERE semantic_entities.yaml_content IS DISTINCT FROM EXCLUDED.yaml_content
        RETURNING {_RETURNING}
        """,
        {"org": scope.org_id, "name": name, "yaml": yaml_content, "user": user_id},
    )
    if row is not None:
        return row, True
    existing = get(scope, name)
    assert existing is not None  # the conflict that skipped the update is this very row
    return existing, False


def delete(scope: Scope, name: str) -> dict | None:
    """Remove one entity; None when the org has no entity of that name."""
    return scope.fetch_one(
        f"DELETE FROM semantic_entities WHERE org_id = %s AND name = %s RETURNING {_RETURNING}",
        (scope.org_id, name),
    )


def get(scope: Scope, name: str) -> dict | None:
    return scope.fetch_one(
        f"SELECT {_RETURNING} FROM semantic_entities WHERE org_id = %s AND name = %s",
        (scope.org_id, name),
    )


def list_all(scope: Scope) -> list[dict]:
    """Every entity of the org, content included, by name."""
    return scope.fetch_all(
        f"SELECT {_RETURNING} FROM semantic_entities WHERE org_id = %s ORDER BY name",
        (scope.org_id,),
    )


def manifest(scope: Scope) -> dict[str, str]:
    """name -> a stamp that changes whenever that entity's content does (cheap: no content)."""
    rows = scope.fetch_all(
        "SELECT name, version, updated_at FROM semantic_entities WHERE org_id = %s ORDER BY name",
        (scope.org_id,),
    )
    return {r["name"]: stamp(r) for r in rows}


def stamp(row: Mapping[str, object]) -> str:
    """version plus updated_at: a deleted and re-created entity restarts at version 1."""
    updated_at = row["updated_at"]
    iso = updated_at.isoformat() if hasattr(updated_at, "isoformat") else str(updated_at)
    return f"{row['version']}@{iso}"


def digest(entries: Mapping[str, str]) -> str:
    """The org's semantic version: equal digests mean identical layers."""
    h = hashlib.sha256()
    for name in sorted(entries):
        h.update(f"{name}\x00{entries[name]}\x01".encode())
    return h.hexdigest()[:32]


def entity_json(row: dict[str, Any], *, content: bool = True) -> dict[str, Any]:
    """An entity row as the API and the MCP tools show it (`content`: with its YAML)."""
    body = {"name": row["name"], "version": row["version"]}
    if content:
        body["yamlContent"] = row["yaml_content"]
    body.update({"updatedBy": value_json(row["updated_by"]), "createdAt": value_json(row["created_at"]),
                 "updatedAt": value_json(row["updated_at"])})
    return body
