"""``atlas init``: profile the datasource, write entity YAML, import it for an org.

Everything is profiled (and every document validated) in memory before the
first file or row is written, so an unreachable database leaves no partial
state. With an org and import, the entities go into semantic_entities in one
transaction and the org's directory is then synced from the database (the
truth); ``--no-import`` writes the org's directory only, for review, and the
server puts the database's layer back there on its next access.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence, TextIO

import psycopg

from app.config import Settings
from app.db import Database, Scope, as_org_id
from app.errors import NotFoundError, ServiceUnavailableError, ValidationError
from app.failover import describe
from app.semantic import profile as prof
from app.semantic.layer import SemanticLayer
from app.semantic.schema import validate_entity_yaml
from app.semantic.sync import ENTITIES_DIR, SUFFIX, OrgFiles, atomic_write, real_dir
from app.db.connect import open_connection

CONNECT_TIMEOUT_S = 5


class Progress:
    """A one-line bar on a terminal, one line per step otherwise (logs, CI)."""

    def __init__(self, total: int, stream: TextIO, *, width: int = 30) -> None:
        self.total, self.stream, self.width, self.done = total, stream, width, 0
        self.tty = stream.isatty()

    def step(self, label: str) -> None:
        self.done += 1
        filled = self.width * self.done // max(self.total, 1)
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} {label}"
        if self.tty:
            self.stream.write("\r" + line.ljust(self.width + 50) + ("\n" if self.done == self.total else ""))
        else:
            self.stream.write(f"profiling {line}\n")
        self.stream.flush()


def run_init(settings: Settings, *, org: str | None, tables: Sequence[str] | None, do_import: bool,
             out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Profile, then write and (with an org) import; 0 on success, AtlasError otherwise."""
    out, err = out or sys.stdout, err or sys.stderr
    org_id = as_org_id(org) if org else None
    app_url = settings.database.app_database_url
    if org_id is not None:  # an org in a dedicated database is profiled (and imported) there
        from app.placement.locations import org_location, role_conninfo

        location = org_location(settings.database.url, org_id)
        app_url = app_url if location is None else role_conninfo(app_url, location)
    _probe(app_url)
    database = Database(app_url, min_size=1, max_size=1,
                        timeout_s=settings.pool.timeout_s, name="atlas-init").open()
    try:
        documents = _profile(database, settings, org_id, tables, err)
        root = Path(settings.semantic.root)
        if org_id is not None and do_import:
            layer = SemanticLayer(database, root=root)
            try:
                rows = layer.import_entities(org_id, documents, audit=_audit)
            except psycopg.errors.ForeignKeyViolation:
                raise NotFoundError(f"organization {org_id} does not exist") from None
            changed = sum(1 for r in rows if r["changed"])
            target = layer.ensure_synced(org_id) / ENTITIES_DIR
            _report(out, target, documents)
            print(f"imported {len(rows)} entities into semantic_entities for org {org_id} "
                  f"({changed} new or changed)", file=out)
        else:
            target = _write_files(root, org_id, documents)
            _report(out, target, documents)
            if org_id is not None:
                print("not imported (--no-import): review the files, then run atlas init "
                      f"--org {org_id} to import", file=out)
    finally:
        database.close()
    return 0


def _audit(scope: Scope, action: str, row: dict) -> None:
    """CLI imports are audited like API changes, with no actor and detail.source = atlas init."""
    from app import audit

    audit.record(scope, action=action, entity="semantic_entity", entity_id=row["name"],
                 changed_fields=["yaml_content"], detail={"version": row["version"], "source": "atlas init"},
                 actor_user_id=None, request_id=None)


def _probe(conninfo: str) -> None:
    """Fail fast, with the address in the message, before anything else happens."""
    try:
        open_connection("semantic.initialize", conninfo, connect_timeout=CONNECT_TIMEOUT_S).close()
    except psycopg.OperationalError as exc:
        where = describe(conninfo)
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ServiceUnavailableError(
            f"cannot reach the internal database at {where} ({reason}); check DATABASE_URL "
            "(or ATLAS_APP_DATABASE_URL). Nothing was written."
        ) from None


def _profile(database: Database, settings: Settings, org_id: object, wanted: Sequence[str] | None,
             err: TextIO) -> dict[str, str]:
    """Every entity's YAML, validated, or an exception before anything is written."""
    scope_cm = (database.transaction(org_id, read_only=True) if org_id is not None
                else database.identity_transaction())
    with scope_cm as scope:
        if org_id is not None:
            _require_org(scope, org_id)
        available = prof.agent_tables(scope, agent_role=settings.database.roles.agent)
        if not available:
            raise NotFoundError(f"no tables are readable by the agent role {settings.database.roles.agent}; "
                                "run atlas migrate first")
        chosen = _choose(available, wanted)
        progress = Progress(len(chosen), err)
        profiles = []
        for table in chosen:
            profile = prof.describe(scope, table)
            if org_id is not None:
                prof.add_data(scope, profile)
            profiles.append(profile)
            progress.step(table)
    documents = {name: prof.to_yaml(doc) for name, doc in prof.build_entities(profiles).items()}
    for text in documents.values():
        validate_entity_yaml(text)
    return documents


def _require_org(scope: Scope, org_id: object) -> None:
    if scope.fetch_value("SELECT count(*) FROM organizations WHERE id = %s", (org_id,)) != 1:
        raise NotFoundError(f"organization {org_id} does not exist")


def _choose(available: list[str], wanted: Sequence[str] | None) -> list[str]:
    if not wanted:
        return available
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        raise ValidationError(
            f"unknown or unreadable tables: {', '.join(unknown)} (available: {', '.join(available)})",
            details={"fields": {"tables": f"unknown: {', '.join(unknown)}"}},
        )
    return [t for t in available if t in set(wanted)]


def _write_files(root: Path, org_id: object, documents: dict[str, str]) -> Path:
    """Atomic writes to the org's directory (under its lock) or to the default layer."""
    if org_id is None:
        target = real_dir(real_dir(root) / ENTITIES_DIR)
        for name, text in sorted(documents.items()):
            atomic_write(target, name + SUFFIX, text.encode("utf-8"))
        return target
    files = OrgFiles(root, org_id)
    with files.locked():
        target = real_dir(files.entities)
        for name, text in sorted(documents.items()):
            atomic_write(target, name + SUFFIX, text.encode("utf-8"))
    return target


def _report(out: TextIO, target: Path, documents: dict[str, str]) -> None:
    for name in sorted(documents):
        print(f"wrote {target / (name + SUFFIX)}", file=out)
