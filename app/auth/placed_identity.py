"""A credential stored with its org's rows (an API key, an MCP client's OAuth token), confirmed where members live.

Such a credential is read where its org lives now (`Database.placed_read`, docs/placement.md). For an org in
the shared database the read's own join with `members` is the authority: one round trip. For an org in a
dedicated database that join reads the database's mirror of members, which may lag a removal (a refresh
that failed); so the user's membership, and the placement the read went by, are confirmed in the shared
database, the authority for members: a removed member's credentials stop at once whatever the mirror says.
"""
from __future__ import annotations

import uuid
from typing import Any

from app.db import Database, Params

_CONFIRM = ("SELECT (SELECT location FROM org_placements WHERE organization_id = app.current_org()) AS location,"
            " (SELECT role FROM members WHERE org_id = app.current_org() AND user_id = %(user)s) AS role")
MEMBERS_HERE = object()  # the row was read in the shared database: its own `role` is the member's role now


def confirmed_row(db: Database, org: uuid.UUID, query: str, params: Params) -> tuple[dict[str, Any], Any] | None:
    """The row `query` finds where `org` lives, with its `user_id`'s role now; None when there is none.

    The role is MEMBERS_HERE for an org in the shared database (the row's join decided it), else the
    user's role in the shared database; None (no row) also when that user is no longer a member there, or
    when the org moved twice while being read (the client's retry resolves it).
    """
    for _attempt in range(2):  # once more if the org moved between the two databases' reads
        location, rows = db.placed_read(org, query, params)
        if not rows:
            return None
        row = rows[0]
        if location is None:
            return row, MEMBERS_HERE
        confirmed = db.base_read(org, _CONFIRM, {"user": row["user_id"]})[0]
        if confirmed["location"] != location:
            continue
        if confirmed["role"] is None:  # the user left the org (the dedicated mirror may lag)
            return None
        return row, confirmed["role"]
    return None
