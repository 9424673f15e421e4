"""Conversations: the org's shared agent history, permissions per the role matrix.

    GET    /api/v1/conversations               newest activity first, keyset pages (limit, cursor)
    POST   /api/v1/conversations               {title?} -> 201
    GET    /api/v1/conversations/<id>          the conversation with its messages, oldest first
    DELETE /api/v1/conversations/<id>          204 (admin, owner)
    POST   /api/v1/conversations/<id>/messages {role?, content} -> 201
    POST   /api/v1/conversations/<id>/team     {teamId | null}: share with one team, or with the whole org

Every member of the org sees every conversation of the org, but for one shared
with a team (`teamId`): its team's members, its creator and the org's owners
and admins read it, and everyone else gets the 404 of a missing one
(app/teams/sharing.py). Clients may post
`user` and `assistant` messages; `system` and `tool` turns are reserved for
the server-side agent, so a member cannot plant instructions in history that
other members' agent runs would read as the system's. Another org's
conversation, a missing one and a malformed id are the same 404.
"""
from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, g, url_for
from flask.typing import ResponseReturnValue
from psycopg import sql

from app import audit
from app.api import get_cursors, session_scope
from app.api.crm import path_id
from app.api.spec.schemas import page_of, ref
from app.bodies.queries import Page
from app.bodies.requests import ConversationTeam, NewConversation, NewMessage
from app.db.statement_text import rendered
from app.endpoint import endpoint
from app.errors import NotFoundError
from app.http import hot_reads
from app.http.body import parsed_body
from app.http.responses import json_response
from app.paging import Keyset, Pager
from app.permissions import permission
from app.serialize import dumps, page_json, row_json
from app.teams import sharing
from app.teams.sharing import VISIBLE

bp = Blueprint("conversations", __name__, url_prefix="/api/v1/conversations")

_CONVERSATION = sql.SQL(", ").join(
    map(sql.Identifier, ("id", "org_id", "title", "team_id", "created_by", "created_at", "updated_at")))
ORDER = Keyset("conversations", "updated_at", "datetime", descending=True)
_MESSAGE = sql.SQL(", ").join(
    map(sql.Identifier, ("id", "conversation_id", "role", "content", "created_by", "created_at")))
# The get's two hot reads, rendered once (app/db/statement_text.py).
_ONE_CONVERSATION = sql.SQL("SELECT {} FROM conversations WHERE {} AND id = %(id)s AND {}").format(
    _CONVERSATION, hot_reads.ORG, VISIBLE).as_string(None)
_ITS_MESSAGES = sql.SQL("SELECT {} FROM messages WHERE {} AND conversation_id = %(id)s"
                        " AND conversation_id IN (SELECT id FROM conversations WHERE {} AND {})"
                        " ORDER BY created_at, id").format(_MESSAGE, hot_reads.ORG, hot_reads.ORG, VISIBLE).as_string(None)


def _not_found(conversation_id: uuid.UUID) -> NotFoundError:
    return NotFoundError(f"conversation {conversation_id} not found")


@bp.get("")
@endpoint(permission("conversation", "read"), tag="conversations", query=Page,
          response=page_of(ref("Conversation")), one_trip=True)
def list_conversations(args: Page) -> ResponseReturnValue:
    """The org's conversations, most recently active first.

    Most recently active first; ordered like the (org_id, updated_at DESC, id) index.
    """
    cursor = args.cursor or None
    org_id = hot_reads.identity_first().org_id if cursor else None  # a cursor is checked before any SQL
    pager = Pager(ORDER, cursors=get_cursors(), org_id=org_id, limit=args.limit, cursor=cursor)
    params: dict[str, Any] = {}
    pager.bind(params)
    query = rendered(("conversations", pager.after is not None), lambda: pager.select(
        columns=_CONVERSATION, table=sql.Identifier("conversations"), where=[hot_reads.ORG, VISIBLE], params={}))
    (names, rows), = hot_reads.read([(query, params)])
    pager.org_id = g.identity.org_id
    rows, next_cursor = pager.cut(names, rows)
    return json_response(page_json(names, rows, next_cursor=next_cursor))


@bp.post("")
@endpoint(permission("conversation", "create"), tag="conversations", body=NewConversation,
          response=ref("ConversationWithMessages"), status=201, idempotent=True)
def create_conversation(body: NewConversation) -> ResponseReturnValue:
    """Start a conversation."""
    with session_scope() as scope:
        if body.teamId is not None:
            sharing.may_share_with(scope, g.identity, body.teamId)
        row = scope.fetch_one(
            sql.SQL("INSERT INTO conversations (org_id, title, created_by, team_id)"
                    " VALUES (%(org_id)s, coalesce(%(title)s, 'New conversation'), %(user)s, %(team)s)"
                    " RETURNING {}").format(_CONVERSATION),
            {"org_id": scope.org_id, "title": body.title, "user": g.identity.user_id, "team": body.teamId},
        )
        assert row is not None
        audit.record(scope, action="conversation.create", entity="conversation", entity_id=row["id"],
                     changed_fields=body.given())
    location = url_for("conversations.get_conversation", conversation_id=str(row["id"]))
    return {**row_json(row), "messages": []}, 201, {"Location": location}


@bp.get("/<conversation_id>")
@endpoint(permission("conversation", "read"), tag="conversations", response=ref("ConversationWithMessages"),
          one_trip=True)
def get_conversation(conversation_id: str) -> ResponseReturnValue:
    """A conversation with its messages, oldest first."""
    target = path_id(conversation_id, what="conversation")
    params = {"id": target}
    (names, rows), (message_names, messages) = hot_reads.read([(_ONE_CONVERSATION, params), (_ITS_MESSAGES, params)])
    if not rows:
        raise _not_found(target)
    return json_response(dumps({**dict(zip(names, rows[0])),
                                "messages": [dict(zip(message_names, m)) for m in messages]}))


@bp.delete("/<conversation_id>")
@endpoint(permission("conversation", "delete"), tag="conversations")
def delete_conversation(conversation_id: str) -> ResponseReturnValue:
    """Delete a conversation and its messages.

    Deletes the conversation and (by cascade) its messages.
    """
    target = path_id(conversation_id, what="conversation")
    with session_scope() as scope:
        row = scope.fetch_one("DELETE FROM conversations WHERE org_id = %(org_id)s AND id = %(id)s RETURNING id",
                              {"org_id": scope.org_id, "id": target})
        if row is None:
            raise _not_found(target)
        audit.record(scope, action="conversation.delete", entity="conversation", entity_id=target)
    return "", 204


@bp.post("/<conversation_id>/messages")
# reads_body: the conversation's id in the path answers first (a malformed one is a 404, before a bad body)
@endpoint(permission("conversation", "create"), tag="conversations", body=NewMessage, response=ref("Message"),
          status=201, idempotent=True, reads_body=True)
def add_message(conversation_id: str) -> ResponseReturnValue:
    """Append a user or assistant message.

    Append a message; touching the conversation first locks it and finds it (or 404s) in one statement.
    """
    target = path_id(conversation_id, what="conversation")
    message = parsed_body(NewMessage)
    params = {"org_id": g.identity.org_id, "id": target, "role": message.role or "user", "content": message.content,
              "user": g.identity.user_id}
    with session_scope() as scope:
        touched = scope.fetch_one(sql.SQL("UPDATE conversations SET updated_at = now()"
                                          " WHERE org_id = %(org_id)s AND id = %(id)s AND {} RETURNING id").format(
            VISIBLE), params)
        if touched is None:
            raise _not_found(target)
        row = scope.fetch_one(
            sql.SQL("INSERT INTO messages (org_id, conversation_id, role, content, created_by)"
                    " VALUES (%(org_id)s, %(id)s, %(role)s, %(content)s, %(user)s) RETURNING {}")
            .format(_MESSAGE), params)
        assert row is not None
        audit.record(scope, action="message.create", entity="message", entity_id=row["id"],
                     changed_fields=("role", "content"), detail={"conversation_id": str(target)})
    return row_json(row), 201


@bp.post("/<conversation_id>/team")
# reads_body: the conversation's id in the path answers first (a malformed one is a 404, before a bad body)
@endpoint(permission("conversation", "create"), tag="conversations", body=ConversationTeam,
          response=ref("Conversation"), reads_body=True)
def share_conversation(conversation_id: str) -> ResponseReturnValue:
    """Share a conversation with one team of the org, or (null) the whole org: its creator, owners and admins;
    audited"""
    target = path_id(conversation_id, what="conversation")
    team_id = parsed_body(ConversationTeam).teamId
    with session_scope() as scope:
        current = scope.fetch_one(sql.SQL("SELECT {} FROM conversations WHERE org_id = %s AND id = %s AND {}"
                                          " FOR UPDATE").format(_CONVERSATION, VISIBLE), (scope.org_id, target))
        if current is None:
            raise _not_found(target)
        sharing.may_reshare(g.identity, current)
        if team_id is not None:
            sharing.may_share_with(scope, g.identity, team_id)
        row = scope.fetch_one(sql.SQL("UPDATE conversations SET team_id = %s WHERE org_id = %s AND id = %s"
                                      " RETURNING {}").format(_CONVERSATION), (team_id, scope.org_id, target))
        assert row is not None
        audit.record(scope, action="conversation.share", entity="conversation", entity_id=target,
                     changed_fields=("team_id",),
                     detail={"from": None if current["team_id"] is None else str(current["team_id"]),
                             "to": None if team_id is None else str(team_id)})
    return row_json(row)
