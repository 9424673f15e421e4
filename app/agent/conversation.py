"""An ask's place in the org's conversation: the question, each step, the answer (the messages table).

Written through the org-scoped door as the asking member, so RLS keeps every
row in the asking org. `tool` messages hold one step each as JSON (the call,
its outcome, the SQL and a bounded sample of rows); clients cannot post that
role (app/api/conversations.py), so a member cannot plant a step.
"""
from __future__ import annotations

import json
import uuid
from typing import Any

from psycopg import sql

from app.db import Database
from app.errors import NotFoundError
from app.teams.sharing import VISIBLE

MAX_CONTENT_CHARS = 190_000  # under the messages.content CHECK (200000)
HISTORY_MESSAGES = 12  # earlier turns the model sees: user questions and assistant answers only
HISTORY_CHARS = 4_000


def require(db: Database, org_id: object, conversation_id: uuid.UUID, *, user_id: uuid.UUID) -> None:
    """404 unless the conversation is the org's and the user may read it (another org's, or another team's,
    is the same 404: app/teams/sharing.py)."""
    with db.transaction(org_id, user_id=user_id, read_only=True) as scope:
        found = scope.fetch_value(sql.SQL("SELECT 1 FROM conversations WHERE org_id = (SELECT app.current_org())"
                                          " AND id = %s AND {}").format(VISIBLE), (conversation_id,))
    if found is None:
        raise NotFoundError(f"conversation {conversation_id} not found")


def history(db: Database, org_id: object, conversation_id: uuid.UUID) -> list[dict[str, str]]:
    """The last questions and answers of the conversation, oldest first, as chat messages."""
    with db.transaction(org_id, read_only=True) as scope:
        rows = scope.fetch_all(
            "SELECT role, content FROM messages WHERE org_id = (SELECT app.current_org())"
            " AND conversation_id = %s AND role IN ('user', 'assistant') ORDER BY created_at DESC, id DESC LIMIT %s",
            (conversation_id, HISTORY_MESSAGES))
    return [{"role": r["role"], "content": str(r["content"])[:HISTORY_CHARS]} for r in reversed(rows)]


def append(db: Database, org_id: object, conversation_id: uuid.UUID, *, role: str, content: str | dict[str, Any],
           user_id: object) -> None:
    """One message, and the conversation's activity time, in one transaction."""
    text = content if isinstance(content, str) else _bounded_json(content)
    with db.transaction(org_id, user_id=user_id) as scope:
        scope.execute("UPDATE conversations SET updated_at = now() WHERE org_id = (SELECT app.current_org())"
                      " AND id = %s", (conversation_id,))
        scope.execute("INSERT INTO messages (org_id, conversation_id, role, content, created_by)"
                      " VALUES (app.current_org(), %s, %s, %s, %s)",
                      (conversation_id, role, text[:MAX_CONTENT_CHARS], user_id))


def _bounded_json(content: dict[str, Any]) -> str:
    text = json.dumps(content, default=str, ensure_ascii=False)
    if len(text) > MAX_CONTENT_CHARS and "rows" in content:
        text = json.dumps({**content, "rows": [], "rowsDropped": True}, default=str, ensure_ascii=False)
    return text
