"""The control rows a dedicated database keeps so that its foreign keys hold.

Tenant tables refer to organizations(id) and to members(org_id, user_id), and
members to users(id), in every database (the migrations are the same). The
shared database stays the authority for identity; a dedicated database keeps a
mirror of its org's row, its members and their users (id, email, name; never a
password: the mirrored hash is '!', which no password matches). `atlas org move`
writes it as the admin; the server refreshes the members after every
control-plane change of a dedicated org (app/placement/router.py), as the app
role under the same policies as sign-up and member changes.
"""
from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from app.db.scoped_settings import scoped_settings

NO_PASSWORD = "!"


def members_of(control: psycopg.Connection, org: uuid.UUID) -> list[tuple[Any, ...]]:
    """The org's members with their users' id, email and name, read in the shared database."""
    with control.transaction():
        for statement in scoped_settings({"app.org_id": str(org)}):
            control.execute(statement)
        return control.execute(
            "SELECT m.id, m.user_id, m.role, m.created_at, u.email, u.name FROM members m"
            " JOIN users u ON u.id = m.user_id WHERE m.org_id = %s ORDER BY m.id", (org,)).fetchall()


def write_members(target: psycopg.Connection, org: uuid.UUID, members: list[tuple[Any, ...]]) -> None:
    """Make the target's members of `org` (and their users) exactly `members`, in one transaction."""
    with target.transaction():
        for _member_id, user_id, _role, _created, email, name in members:
            for statement in scoped_settings({"app.auth_email": email}):
                target.execute(statement)
            target.execute("INSERT INTO users (id, email, name, password_hash) VALUES (%s, %s, %s, %s)"
                           " ON CONFLICT DO NOTHING", (user_id, email, name, NO_PASSWORD))
        for statement in scoped_settings({"app.org_id": str(org)}):
            target.execute(statement)
        for member_id, user_id, role, created_at, _email, _name in members:
            target.execute("INSERT INTO members (org_id, id, user_id, role, created_at) VALUES (%s, %s, %s, %s, %s)"
                           " ON CONFLICT (org_id, id) DO UPDATE SET role = EXCLUDED.role",
                           (org, member_id, user_id, role, created_at))
        target.execute("DELETE FROM members WHERE org_id = %s AND NOT (id = ANY(%s))",
                       (org, [m[0] for m in members]))


def write_org_row(control: psycopg.Connection, target: psycopg.Connection, org: uuid.UUID) -> None:
    """Copy the organizations row (as the admin: only the mover writes it)."""
    columns = ("id", "name", "slug", "logo", "metadata", "created_at")
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    row = control.execute(sql.SQL("SELECT {} FROM organizations WHERE id = %s").format(cols), (org,)).fetchone()
    if row is None:
        return
    updates = sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in columns[1:])
    target.execute(sql.SQL("INSERT INTO organizations ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET {}").format(
        cols, sql.SQL(", ").join(sql.Placeholder() * len(columns)), updates),
        [Jsonb(v) if c == "metadata" else v for c, v in zip(columns, row, strict=True)])


def sync(control: psycopg.Connection, target: psycopg.Connection, org: uuid.UUID, *, with_org_row: bool) -> None:
    """Refresh the target's mirror of `org` from the shared database."""
    if with_org_row:
        write_org_row(control, target, org)
    write_members(target, org, members_of(control, org))


def remove(target: psycopg.Connection, org: uuid.UUID) -> None:
    """Drop the mirror of `org` from a database it left (users no other org there refers to)."""
    with target.transaction():
        users = [r[0] for r in target.execute("SELECT user_id FROM members WHERE org_id = %s", (org,))]
        target.execute("DELETE FROM members WHERE org_id = %s", (org,))
        target.execute("DELETE FROM organizations WHERE id = %s", (org,))
        target.execute("DELETE FROM users u WHERE u.id = ANY(%s) AND u.password_hash = %s"
                       " AND NOT EXISTS (SELECT 1 FROM members m WHERE m.user_id = u.id)", (users, NO_PASSWORD))
