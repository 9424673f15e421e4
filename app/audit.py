"""The audit trail: one audit_log row per mutation, in the mutation's own transaction.

`record` writes inside the caller's scope, so the entry commits or rolls back
with the change it describes. `record_refusal` opens its own transaction: a
refused request's work is rolled back, but the refusal must still be kept.
Actor, API key and request id default to the current caller's (app/acting.py: the
HTTP request's, or the MCP tool call's); the job worker and the CLI pass them. Work done with an API key is
recorded with its creator as the actor and the key in `api_key_id`.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping

from psycopg import sql
from psycopg.types.json import Jsonb

from app.acting import acting
from app.db import Database, Scope

log = logging.getLogger("atlas.audit")

OUTCOMES = ("ok", "refused", "error")
_FROM_REQUEST: object = object()


def _actor(actor_user_id: object) -> uuid.UUID | None:
    if actor_user_id is _FROM_REQUEST:
        return acting().user_id
    return None if actor_user_id is None else uuid.UUID(str(actor_user_id))


def _api_key(api_key_id: object) -> uuid.UUID | None:
    if api_key_id is _FROM_REQUEST:
        return acting().api_key_id
    return None if api_key_id is None else uuid.UUID(str(api_key_id))


def _request_id(request_id: object) -> str | None:
    if request_id is _FROM_REQUEST:
        return acting().request_id
    return None if request_id is None else str(request_id)


def record(
    scope: Scope,
    *,
    action: str,
    entity: str,
    entity_id: object = None,
    changed_fields: Iterable[str] = (),
    outcome: str = "ok",
    detail: Mapping[str, object] | None = None,
    actor_user_id: object = _FROM_REQUEST,
    request_id: object = _FROM_REQUEST,
    api_key_id: object = _FROM_REQUEST,
) -> None:
    """Append one entry to the scope's org audit trail, in the scope's transaction."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}")
    scope.execute(
        "INSERT INTO audit_log (org_id, actor_user_id, api_key_id, action, entity, entity_id,"
        " changed_fields, outcome, request_id, detail)"
        " VALUES (%(org)s, %(actor)s, %(api_key)s, %(action)s, %(entity)s, %(entity_id)s,"
        " %(fields)s, %(outcome)s, %(request_id)s, %(detail)s)",
        {
            "org": scope.org_id,
            "actor": _actor(actor_user_id),
            "api_key": _api_key(api_key_id),
            "action": action,
            "entity": entity,
            "entity_id": None if entity_id is None else str(entity_id),
            "fields": sorted(set(changed_fields)),
            "outcome": outcome,
            "request_id": _request_id(request_id),
            "detail": Jsonb(dict(detail or {})),
        },
    )


REQUEST_ACTOR = sql.Placeholder("audit_actor")  # the actor of entry_params: the request's identity
SESSION_USER = sql.SQL("app.current_user_id()")  # the actor of a write fused with its session (app/http/hot_reads.py)


def logged_with(change: sql.Composable, *, actor: sql.Composable = REQUEST_ACTOR) -> sql.Composed:
    """`change` (an INSERT/UPDATE/DELETE ... RETURNING with `id`) and its audit entry as ONE statement.

    The entry's values are `entry_params'`, its actor `actor` (SESSION_USER: the transaction's user);
    the statement answers the change's rows: a write and its audit row in one round trip (app/api/crm.py).
    """
    return sql.SQL(
        "WITH changed AS ({}), logged AS (INSERT INTO audit_log (org_id, actor_user_id, api_key_id, action, entity,"
        " entity_id, changed_fields, outcome, request_id, detail)"
        " SELECT org_id, {}, %(audit_api_key)s, %(audit_action)s, %(audit_entity)s, id::text, %(audit_fields)s, 'ok',"
        " %(audit_request_id)s, '{{}}'::jsonb FROM changed)"
        " SELECT * FROM changed").format(change, actor)


def entry_params(*, action: str, entity: str, changed_fields: Iterable[str] = ()) -> dict[str, object]:
    """The values of `logged_with`'s entry: what `record` would write for each returned row (outcome ok,
    actor, API key and request id from the request)."""
    return {"audit_actor": _actor(_FROM_REQUEST), "audit_api_key": _api_key(_FROM_REQUEST),
            "audit_action": action, "audit_entity": entity,
            "audit_fields": sorted(set(changed_fields)), "audit_request_id": _request_id(_FROM_REQUEST)}


def record_refusal(
    db: Database,
    *,
    org_id: object,
    action: str,
    entity: str,
    entity_id: object = None,
    detail: Mapping[str, object] | None = None,
    actor_user_id: object = _FROM_REQUEST,
    request_id: object = _FROM_REQUEST,
    api_key_id: object = _FROM_REQUEST,
) -> None:
    """Keep a refused attempt in `org_id`'s trail, in a transaction of its own."""
    actor = _actor(actor_user_id)
    with db.separate_transaction(org_id, user_id=actor) as scope:
        record(scope, action=action, entity=entity, entity_id=entity_id, outcome="refused",
               detail=detail, actor_user_id=actor, request_id=_request_id(request_id),
               api_key_id=_api_key(api_key_id))
    log.warning("refused %s on %s %s by %s in org %s", action, entity, entity_id, actor, org_id)
