"""An org's own datasources: CRUD through the door, credentials sealed, hosts guarded, pools per connection.

`Connections` is built once (app/services.py). Writes validate the URL strictly
(target.py), check its host against the platform's allowlist (hosts.py),
encrypt the password (crypto.py) and audit the change in the same
transaction; no answer, audit entry or log line ever holds the password.
`open_for_query` is what the query service uses: the org's connection by id
(RLS: another org's id is simply not found), its host checked again (the
allowlist may have shrunk), and a connection from its own pool in the
registry.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from app import audit
from app.bodies.connections import ConnectionChange, NewConnection
from app.connections import store
from app.connections.hosts import HostPolicy
from app.connections.target import Target, parse_url
from app.credentials import CredentialBox
from app.db import Database, Scope
from app.db.connect import open_connection
from app.errors import ConflictError, NotFoundError, ValidationError
from app.errors.query import ConnectionFailedError
from app.pools import PoolRegistry

log = logging.getLogger("atlas.connections")
DEFAULT = "default"  # Atlas's own CRM data: never a stored connection


@dataclass(frozen=True)
class Resolved:
    """A stored connection, ready to connect: its id and version name its pool and its cache entries."""

    id: str
    version: int
    target: Target
    ciphertext: str = ""
    created: float = 0.0  # a connection deleted and made again under its id is another connection

    @property
    def source(self) -> str:
        return f"{self.id}@{self.version}@{self.created:.6f}"


class Connections:
    """The org's datasources; every method takes the org from its caller (the session), never from a body."""

    def __init__(self, *, db: Database, box: CredentialBox, hosts: HostPolicy, pools: PoolRegistry,
                 own: OwnDatabase | None = None) -> None:
        self.db, self.box, self.hosts, self.pools = db, box, hosts, pools
        self.own = own

    # ----- reads -----
    def list(self, org_id: object) -> list[dict[str, Any]]:
        with self.db.transaction(org_id, read_only=True) as scope:
            return [store.as_json(row) for row in store.list_all(scope)]

    def get(self, org_id: object, connection_id: str) -> dict[str, Any]:
        with self.db.transaction(org_id, read_only=True) as scope:
            return store.as_json(self._row(scope, connection_id))

    # ----- writes -----
    def create(self, org_id: object, new: NewConnection, *, user_id: uuid.UUID | None) -> dict[str, Any]:
        if new.id == DEFAULT:
            raise ValidationError('invalid connection: id "default" names Atlas\'s own data',
                                  details={"fields": {"id": 'must not be "default"'}})
        target, password = self._checked(new.url, new.password)
        row = {"id": new.id, "description": new.description, **_columns(target),
               "password_ciphertext": self._seal(password), "created_by": user_id}
        with self.db.transaction(org_id, user_id=user_id) as scope:
            created = store.insert(scope, row)
            if created is None:
                raise ConflictError(f"this organization already has a connection named {new.id!r}")
            self._audit(scope, "connection.create", created, changed=("url", "password", "description"))
        return store.as_json(created)

    def update(self, org_id: object, connection_id: str, change: ConnectionChange, *,
               user_id: uuid.UUID | None) -> dict[str, Any]:
        given = change.given()
        with self.db.transaction(org_id, user_id=user_id) as scope:
            row = self._row(scope, connection_id, for_update=True)
            target = _target_of(row)
            ciphertext = row["password_ciphertext"]
            if given.get("url") is not None:
                target, url_password = self._checked(given["url"], given.get("password"))
                if url_password is not None:
                    ciphertext = self._seal(url_password)
            elif given.get("password") is not None:
                ciphertext = self._seal(given["password"])
            description = row["description"] if given.get("description") is None else given["description"]
            updated = store.update(scope, connection_id, {
                "description": description, **_columns(target), "password_ciphertext": ciphertext})
            assert updated is not None
            self._audit(scope, "connection.update", updated, changed=[k for k, v in given.items() if v is not None])
        self.pools.retire_org_datasource(org_id, connection_id)
        return store.as_json(updated)

    def delete(self, org_id: object, connection_id: str, *, user_id: uuid.UUID | None) -> dict[str, Any]:
        with self.db.transaction(org_id, user_id=user_id) as scope:
            row = store.delete(scope, connection_id)
            if row is None:
                raise _not_found(connection_id)
            self._audit(scope, "connection.delete", row)
        self.pools.retire_org_datasource(org_id, connection_id)
        return store.as_json(row)

    # ----- using a connection -----
    def resolve(self, org_id: object, connection_id: str) -> Resolved:
        """The org's connection by id; NotFoundError when this org has none by that id."""
        with self.db.transaction(org_id, read_only=True) as scope:
            row = self._row(scope, connection_id)
        return Resolved(row["id"], row["version"], _target_of(row), row["password_ciphertext"],
                        row["created_at"].timestamp())

    def conninfo(self, org_id: object, resolved: Resolved) -> str:
        """Checked now: the host against today's allowlist, connected through the checked address."""
        if self.own is not None:
            self.own.refuse_role(resolved.target)
        address = self.hosts.check(resolved.target.host, resolved.target.port, resolved.target.dbname)
        if self.own is not None:
            self.own.refuse(resolved.target, address)
        return resolved.target.conninfo(password=self.box.decrypt(resolved.ciphertext), hostaddr=address,
                                        application_name=f"atlas:{org_id}:{resolved.id}"[:63])

    @contextmanager
    def open_for_query(self, org_id: object, resolved: Resolved) -> Iterator[psycopg.Connection]:
        """An autocommit connection from the (org, connection) pool of the registry."""
        def connect(deadline: float) -> str:
            conninfo = self.conninfo(org_id, resolved)
            _probe(conninfo, resolved.id, timeout_s=max(deadline - time.monotonic(), 1.0),
                   has_password=bool(resolved.ciphertext))
            return conninfo

        with self.pools.org_datasource_connection(org_id, resolved.id, source=resolved.source,
                                                  connect=connect) as conn:
            yield conn

    def test(self, org_id: object, connection_id: str, *, user_id: uuid.UUID | None) -> dict[str, Any]:
        """Connect once, outside the pools, and say what the role may do; audited."""
        resolved = self.resolve(org_id, connection_id)
        started = time.monotonic()
        outcome: dict[str, Any] = {"id": resolved.id, "ok": False}
        try:
            with open_connection("connections.service", self.conninfo(org_id, resolved), autocommit=True) as conn:
                check_role(conn, resolved.id)
                row = conn.execute("SELECT current_setting('server_version'), r.rolcreaterole, r.rolcreatedb"
                                   " FROM pg_roles r WHERE r.rolname = current_user").fetchone()
            outcome.update(ok=True, latencyMs=round((time.monotonic() - started) * 1000, 1))
            if row is not None:
                outcome["serverVersion"] = row[0]
                outcome["warnings"] = [w for w, bad in (
                    ("the role can create roles; give Atlas a read-only role", row[1]),
                    ("the role can create databases; give Atlas a read-only role", row[2])) if bad]
        except psycopg.Error as exc:
            outcome["error"] = _reason(exc, has_password=bool(resolved.ciphertext))
        except ConnectionFailedError as exc:
            outcome["error"] = exc.message
        with self.db.transaction(org_id, user_id=user_id) as scope:
            audit.record(scope, action="connection.test", entity="connection", entity_id=resolved.id,
                         outcome="ok" if outcome["ok"] else "error",
                         detail={k: v for k, v in outcome.items() if k != "id"})
        return outcome

    # ----- helpers -----
    def _seal(self, password: str | None) -> str:
        """The password's Fernet token; no password is stored as nothing (then none is sent: conninfo.py)."""
        return self.box.encrypt(password) if password else ""

    def _checked(self, url: str, password: str | None) -> tuple[Target, str | None]:
        target, url_password = parse_url(url)
        if url_password is not None and password is not None:
            raise ValidationError("invalid connection: give the password in the url or as password, not both",
                                  details={"fields": {"password": "also given in the url"}})
        if self.own is not None:
            self.own.refuse_role(target)
        address = self.hosts.check(target.host, target.port, target.dbname)
        if self.own is not None:
            self.own.refuse(target, address)
        return target, url_password if url_password is not None else password

    def _row(self, scope: Scope, connection_id: str, *, for_update: bool = False) -> dict[str, Any]:
        row = store.get(scope, connection_id, for_update=for_update)
        if row is None:
            raise _not_found(connection_id)
        return row

    def _audit(self, scope: Scope, action: str, row: Mapping[str, Any], *, changed: Any = ()) -> None:
        audit.record(scope, action=action, entity="connection", entity_id=row["id"], changed_fields=changed,
                     detail={"url": store.as_json(dict(row))["url"], "version": row["version"]})


def _columns(target: Target) -> dict[str, Any]:
    return {"host": target.host, "port": target.port, "dbname": target.dbname, "username": target.username,
            "options": {"sslmode": target.sslmode}}


def _target_of(row: Mapping[str, Any]) -> Target:
    return Target(host=row["host"], port=row["port"], dbname=row["dbname"], username=row["username"],
                  sslmode=str((row["options"] or {}).get("sslmode", "prefer")))


def check_role(conn: psycopg.Connection, name: str) -> None:
    """Refuse a role that could step around the read-only transaction or RLS: a superuser, or one bypassing RLS."""
    row = conn.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").fetchone()
    if row is None or row[0] or row[1]:
        raise ConnectionFailedError(
            f"the connection {name!r} logs in as a superuser or a role that bypasses row-level security;"
            " Atlas connects only as a read-only role (CREATE ROLE ... LOGIN; GRANT SELECT ON ...)")


@dataclass(frozen=True)
class OwnDatabase:
    """Atlas's own database and roles: never a tenant's datasource, whatever the host allowlist says.

    Atlas's roles are refused by name on every host: a login as one of them is either an attempt to get
    Atlas's credentials sent somewhere or a way into Atlas's own data through another address."""

    dbname: str
    servers: frozenset[tuple[str, int]]  # (address, port) of each server: every node of a multi-host URL
    roles: frozenset[str]

    def refuse_role(self, target: Target) -> None:
        if target.username in self.roles:
            raise ValidationError(
                f"invalid connection: url must not log in as {target.username!r}, one of Atlas's own roles"
                " (on any host); create a read-only role of your own",
                details={"fields": {"url": "logs in as one of Atlas's own roles"}})

    def refuse(self, target: Target, address: str) -> None:
        if (address, target.port) in self.servers and target.dbname == self.dbname:
            raise ValidationError(
                "invalid connection: url must not point at Atlas's own database",
                details={"fields": {"url": "is Atlas's own database"}})


def _not_found(connection_id: object) -> NotFoundError:
    return NotFoundError(f"this organization has no connection named {str(connection_id)[:80]!r}")


def _reason(exc: psycopg.Error, *, has_password: bool = True) -> str:
    """libpq's message (host, port, role, the server's refusal): it never holds the password.

    A connection stored without a password is told so: Atlas sends none of its own (docs/connections.md)."""
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    if not has_password:
        reason += ("; this connection has no password, and Atlas never sends one of its own: set the role's"
                   " password on the connection if its server asks for one")
    return reason


def _probe(conninfo: str, name: str, *, timeout_s: float, has_password: bool = True) -> None:
    """One direct connection before a pool is built, so a wrong password fails now with its reason."""
    try:
        with open_connection("connections.service", conninfo, connect_timeout=max(1, int(timeout_s))) as conn:
            check_role(conn, name)
    except psycopg.Error as exc:
        reason = _reason(exc, has_password=has_password)
        log.warning("connection %s could not be opened: %s", name, reason)
        raise ConnectionFailedError(f"the connection {name!r} could not be opened: {reason}") from None
