"""The org_connections table (sql/090_org_connections.sql), through the org-scoped door only."""
from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from app.db import Scope
from app.serialize import value_json

COLUMNS = ("id, description, host, port, dbname, username, password_ciphertext, options, version,"
           " created_at, updated_at, created_by")


def list_all(scope: Scope) -> list[dict[str, Any]]:
    return scope.fetch_all(f"SELECT {COLUMNS} FROM org_connections ORDER BY id")


def get(scope: Scope, connection_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    return scope.fetch_one(f"SELECT {COLUMNS} FROM org_connections WHERE id = %s{lock}", (connection_id,))


def insert(scope: Scope, row: dict[str, Any]) -> dict[str, Any] | None:
    """The new row, or None when the org already has a connection with this id."""
    return scope.fetch_one(
        "INSERT INTO org_connections (org_id, id, description, host, port, dbname, username,"
        " password_ciphertext, options, created_by)"
        " VALUES (%(org)s, %(id)s, %(description)s, %(host)s, %(port)s, %(dbname)s, %(username)s,"
        " %(password_ciphertext)s, %(options)s, %(created_by)s)"
        f" ON CONFLICT (org_id, id) DO NOTHING RETURNING {COLUMNS}",
        {**row, "org": scope.org_id, "options": Jsonb(row["options"])})


def update(scope: Scope, connection_id: str, row: dict[str, Any]) -> dict[str, Any] | None:
    return scope.fetch_one(
        "UPDATE org_connections SET description = %(description)s, host = %(host)s, port = %(port)s,"
        " dbname = %(dbname)s, username = %(username)s, password_ciphertext = %(password_ciphertext)s,"
        " options = %(options)s, version = version + 1, updated_at = now()"
        f" WHERE id = %(id)s RETURNING {COLUMNS}",
        {**row, "id": connection_id, "options": Jsonb(row["options"])})


def set_ciphertext(scope: Scope, connection_id: str, ciphertext: str) -> None:
    """Key rotation: the same password under another key; version unchanged (the connection is the same)."""
    scope.execute("UPDATE org_connections SET password_ciphertext = %s WHERE id = %s", (ciphertext, connection_id))


def delete(scope: Scope, connection_id: str) -> dict[str, Any] | None:
    return scope.fetch_one(f"DELETE FROM org_connections WHERE id = %s RETURNING {COLUMNS}", (connection_id,))


def as_json(row: dict[str, Any]) -> dict[str, Any]:
    """The API's view of a connection: everything but the password (only whether one is stored)."""
    options = dict(row["options"] or {})
    host = f"[{row['host']}]" if ":" in row["host"] else row["host"]
    return {
        "id": row["id"],
        "description": row["description"],
        "url": f"postgresql://{row['username']}@{host}:{row['port']}/{row['dbname']}"
               f"?sslmode={options.get('sslmode', 'prefer')}",
        "host": row["host"],
        "port": row["port"],
        "database": row["dbname"],
        "username": row["username"],
        "hasPassword": bool(row["password_ciphertext"]),
        "options": options,
        "version": row["version"],
        "createdAt": value_json(row["created_at"]),
        "updatedAt": value_json(row["updated_at"]),
        "createdBy": value_json(row["created_by"]),
    }
