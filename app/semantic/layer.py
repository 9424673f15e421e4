"""One object for everything the rest of Atlas asks of the semantic layer.

Writes go to the database first (through the org-scoped door), then to disk.
A disk failure is logged on "atlas.semantic_sync" and never undoes the
database write; every read that needs the files (``ensure_synced``) compares
the database's manifest with the one on disk and rebuilds the directory when
they differ, so a failed sync, a deleted directory or a change made by another
process is repaired on the next access.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Callable, Mapping

from app.db import Database, Scope, as_org_id
from app.errors import AtlasError, NotFoundError
from app.errors.query import SemanticLayerInvalidError
from app.semantic import explore as explore_mod
from app.semantic import store
from app.semantic.schema import validate_entity_name, validate_entity_yaml
from app.semantic.sync import ENTITIES_DIR, ORGS_DIR, SUFFIX, OrgFiles

log = logging.getLogger("atlas.semantic_sync")
DEFAULT_CONNECTION = "default"  # Atlas's own data: entities without a `connection:`

#: Called inside the write's transaction, so the audit row commits with the change.
AuditHook = Callable[[Scope, str, dict], None]


class SemanticLayer:
    """The org layers (database + synced files) and the default layer on disk."""

    def __init__(self, database: Database, *, root: Path | str) -> None:
        self.database = database
        self.root = Path(root)
        self.default_dir = self.root / ENTITIES_DIR
        # org (None: the default layer) -> (semantic version, tables by connection, or why it is unusable)
        self._tables: dict[object, tuple[str, dict[str, frozenset[str]] | SemanticLayerInvalidError]] = {}
        self._tables_lock = threading.Lock()

    # ----- writes -----
    def put(self, org_id: object, name: str, yaml_content: str, *, user_id: object = None,
            audit: AuditHook | None = None) -> dict:
        """Validate, upsert, then sync the one file. Returns the row plus changed/synced."""
        validate_entity_name(name)
        validate_entity_yaml(yaml_content)
        with self.database.transaction(org_id, user_id=user_id) as scope:
            row, changed = store.upsert(scope, name, yaml_content, user_id=user_id)
            if audit is not None and changed:
                audit(scope, "semantic_entity.upsert", row)
        synced = self._sync(org_id, lambda files: files.write_entity(name, yaml_content, store.stamp(row)))
        return {**row, "changed": changed, "synced": synced}

    def delete(self, org_id: object, name: str, *, user_id: object = None,
               audit: AuditHook | None = None) -> dict:
        """Delete from the database, then remove the file. NotFoundError if the org has none."""
        validate_entity_name(name)
        with self.database.transaction(org_id, user_id=user_id) as scope:
            row = store.delete(scope, name)
            if row is None:
                raise NotFoundError(f"no semantic entity named {name!r} in this organization")
            if audit is not None:
                audit(scope, "semantic_entity.delete", row)
        synced = self._sync(org_id, lambda files: files.remove_entity(name))
        return {**row, "synced": synced}

    def import_entities(self, org_id: object, entities: Mapping[str, str], *, user_id: object = None,
                        audit: AuditHook | None = None) -> list[dict]:
        """Upsert many entities in one transaction (all or none), then sync the org."""
        for name, content in entities.items():
            validate_entity_name(name)
            validate_entity_yaml(content)
        with self.database.transaction(org_id, user_id=user_id) as scope:
            rows = []
            for name, content in sorted(entities.items()):
                row, changed = store.upsert(scope, name, content, user_id=user_id)
                if audit is not None and changed:
                    audit(scope, "semantic_entity.upsert", row)
                rows.append({**row, "changed": changed})
        self.ensure_synced(org_id)
        return rows

    # ----- reads -----
    def list(self, org_id: object) -> list[dict]:
        with self.database.transaction(org_id, read_only=True) as scope:
            return store.list_all(scope)

    def get(self, org_id: object, name: str) -> dict:
        validate_entity_name(name)
        with self.database.transaction(org_id, read_only=True) as scope:
            row = store.get(scope, name)
        if row is None:
            raise NotFoundError(f"no semantic entity named {name!r} in this organization")
        return row

    def version(self, org_id: object | None) -> str:
        """Changes whenever the layer does; the query cache puts it in its keys."""
        if org_id is None:
            return "default:" + store.digest(self._default_stamps())
        return store.digest(self._manifest(org_id))

    def allowed_tables(self, org_id: object | None, connection: str = DEFAULT_CONNECTION) -> frozenset[str]:
        """The tables the layer declares on one connection (see `versioned_tables`)."""
        return self.versioned_tables(org_id, connection)[1]

    def versioned_tables(self, org_id: object | None,
                         connection: str = DEFAULT_CONNECTION) -> tuple[str, frozenset[str]]:
        """`version(org_id)`, and the tables the layer declares (``table:`` of each entity) on one
        connection: the gateway's allowlist.

        An entity belongs to the connection its ``connection:`` names, or to Atlas's
        own data ("default") without one; a connection's queries may read only its
        own entities' tables.

        Both come from one read of the org's manifest (a query asks for both: one round trip on the
        primary, not two). The tables are from the database for an org (cached per semantic version),
        from the default files without one. An org with no entities allows no table.
        An org entity that does not validate (stored before a stricter rule)
        raises SemanticLayerInvalidError naming it, rather than being guessed
        at; a default-layer file that does not validate is skipped (logged).
        """
        if org_id is None:
            stamps = self._default_stamps()
            key: object = None
            load = self._default_contents
        else:
            key = as_org_id(org_id)
            stamps = self._manifest(key)
            load = lambda: {r["name"]: r["yaml_content"] for r in self.list(key)}  # noqa: E731
        version = store.digest(stamps)
        with self._tables_lock:
            cached = self._tables.get(key)
        if cached is None or cached[0] != version:
            try:
                outcome: dict[str, frozenset[str]] | SemanticLayerInvalidError = _declared_tables(
                    load(), strict=org_id is not None)
            except SemanticLayerInvalidError as exc:
                outcome = exc
            cached = (version, outcome)
            with self._tables_lock:
                self._tables[key] = cached
        if isinstance(cached[1], SemanticLayerInvalidError):
            raise SemanticLayerInvalidError(cached[1].message)
        return ("default:" + version if org_id is None else version), cached[1].get(connection, frozenset())

    def ensure_synced(self, org_id: object) -> Path:
        """The org's directory, first rebuilt from the database if it differs from it."""
        files = OrgFiles(self.root, org_id)
        expected = self._manifest(org_id)
        if files.is_current(expected):
            return files.dir

        def rebuild(locked: OrgFiles) -> None:
            if locked.is_current(self._manifest(org_id)):
                return  # another thread or process got there first
            rows = self.list(org_id)
            locked.rebuild((r["name"], r["yaml_content"], store.stamp(r)) for r in rows)
            log.info("rebuilt semantic files for org %s (%d entities)", files.dir.name, len(rows))

        self._sync(org_id, rebuild)
        return files.dir

    def explore(self, command: object, path: object = "", pattern: object = "", *,
                org_id: object | None = None, regex: bool = False) -> dict[str, Any]:
        """ls/cat/grep in the org's layer (synced first), or the default layer without an org."""
        if org_id is None:
            return explore_mod.explore(self.root, command, path, pattern, regex=regex)
        org = as_org_id(org_id)
        explore_mod.parse_path(path)  # refuse a bad path before touching the database
        self.ensure_synced(org)
        return explore_mod.explore(self.root, command, path, pattern, regex=regex,
                                   within=(ORGS_DIR, str(org)))

    # ----- helpers -----
    def _manifest(self, org_id: object) -> dict[str, str]:
        with self.database.transaction(org_id, read_only=True) as scope:
            return store.manifest(scope)

    def _sync(self, org_id: object, change: Callable[[OrgFiles], None]) -> bool:
        """Apply a disk change under the org's lock; log, never raise, on failure."""
        files = OrgFiles(self.root, org_id)
        try:
            with files.locked():
                change(files)
            return True
        except OSError as exc:
            log.error("semantic sync failed for org %s: %s; the database keeps the change "
                      "and the sync is retried on the next access", files.dir.name, exc)
            return False

    def _default_stamps(self) -> dict[str, str]:
        stamps: dict[str, str] = {}
        try:
            paths = sorted(self.default_dir.glob("*" + SUFFIX))
        except OSError:
            return stamps
        for path in paths:
            try:
                st = path.lstat()
            except OSError:
                continue
            stamps[path.name] = f"{st.st_mtime_ns}:{st.st_size}"
        return stamps

    def _default_contents(self) -> dict[str, str]:
        contents = {}
        for name in self._default_stamps():
            path = self.default_dir / name
            if not path.is_symlink():
                contents[name] = path.read_text(encoding="utf-8")
        return contents


def _declared_tables(contents: Mapping[str, str], *, strict: bool) -> dict[str, frozenset[str]]:
    """Each entity's table, by connection. An entity that no longer validates raises when strict,
    else declares nothing."""
    tables: dict[str, set[str]] = {}
    for name, content in contents.items():
        try:
            entity = validate_entity_yaml(content)
            tables.setdefault(str(entity.get("connection") or DEFAULT_CONNECTION), set()).add(
                entity["table"].lower())
        except AtlasError as exc:
            log.error("semantic entity %s is invalid and allows no table: %s", name, exc)
            if strict:
                raise SemanticLayerInvalidError(
                    f"the semantic entity {name!r} of this organization cannot be used ({exc.message}); "
                    f"an admin must fix it (PUT /api/v1/admin/semantic/org/entities/{name}) or delete it"
                ) from None
    return {connection: frozenset(names) for connection, names in tables.items()}

