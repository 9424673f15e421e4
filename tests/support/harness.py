"""The SQL-level cross-tenant harness: attacks on one table, as the application role.

Each attack returns a list of violations (empty when isolation held), so the
same code proves the real schema holds and proves, on a deliberately broken
table, that it would notice a leak.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from tests.support import catalog, rows


@dataclass
class Seeded:
    """A table holding rows of two orgs: we act as A and attack B."""

    table: str
    org_a: uuid.UUID
    org_b: uuid.UUID
    rows_a: list[dict] = field(default_factory=list)
    rows_b: list[dict] = field(default_factory=list)
    key: tuple[str, ...] = ()

    @property
    def ident(self) -> sql.Composable:
        return sql.SQL(".").join(sql.Identifier(p) for p in self.table.split("."))


def primary_key(conn: psycopg.Connection, table: str) -> tuple[str, ...]:
    for con in catalog.constraints(conn, table):
        if con.kind == "p":
            return con.columns
    raise AssertionError(f"{table} has no primary key")


def seed_two_orgs(admin_url: str, table: str, *, per_org: int = 2) -> Seeded:
    """Two fresh orgs with `per_org` rows each in `table` (as superuser, RLS not applied)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        org_a = rows.make_org(conn, "Alpha")
        org_b = rows.make_org(conn, "Bravo")
        seeded = Seeded(table, org_a, org_b, key=primary_key(conn, table))
        if seeded.key == ("org_id",):  # one row per org by design (e.g. org_settings)
            per_org = 1
        seeded.rows_a = [rows.insert_row(conn, table, org_a) for _ in range(per_org)]
        seeded.rows_b = [rows.insert_row(conn, table, org_b) for _ in range(per_org)]
    return seeded


def snapshot(admin_url: str, seeded: Seeded, org: uuid.UUID) -> list[tuple]:
    """Every row of `org` in the table, in a stable order, for before/after comparison."""
    with psycopg.connect(admin_url) as conn:
        query = sql.SQL("SELECT * FROM {} WHERE org_id = %s ORDER BY {}").format(
            seeded.ident, sql.SQL(", ").join(map(sql.Identifier, seeded.key))
        )
        return [tuple(r) for r in conn.execute(query, (org,)).fetchall()]


def _as_app(app_url: str, org: uuid.UUID | str | None, work: Callable[[psycopg.Connection], None]) -> None:
    """Run `work` in one transaction as the app role with app.org_id set (or not).

    The transaction commits when `work` returns: an attack that wrongly
    succeeds leaves its mark, which the before/after snapshots then show.
    """
    with psycopg.connect(app_url) as conn:
        if org is not None:
            conn.execute(sql.SQL("SET LOCAL app.org_id = {}").format(sql.Literal(str(org))))
        work(conn)
        conn.commit()


def _rejected(app_url: str, org, statement: sql.Composable, params, what: str) -> list[str]:
    """The statement must fail with a privilege/RLS error; success or any other outcome is a violation."""
    outcome: list[str] = []

    def work(conn: psycopg.Connection) -> None:
        try:
            cur = conn.execute(statement, params)
            outcome.append(f"{what}: succeeded ({cur.rowcount} row(s))")
        except psycopg.errors.InsufficientPrivilege:
            conn.rollback()
        except psycopg.Error as exc:
            conn.rollback()
            outcome.append(f"{what}: failed for another reason than RLS/privilege: {exc.sqlstate} {exc}")

    _as_app(app_url, org, work)
    return outcome


def _changes_nothing(app_url: str, org, statement: sql.Composable, params, what: str) -> list[str]:
    """The statement must touch 0 rows (or be refused outright for lack of privilege)."""
    outcome: list[str] = []

    def work(conn: psycopg.Connection) -> None:
        try:
            cur = conn.execute(statement, params)
            if cur.rowcount != 0:
                outcome.append(f"{what}: changed {cur.rowcount} row(s)")
        except psycopg.errors.InsufficientPrivilege:
            conn.rollback()

    _as_app(app_url, org, work)
    return outcome


def _row_values(row: dict, **overrides) -> tuple[list[str], list]:
    values = {**row, **overrides}
    params = [Jsonb(v) if isinstance(v, dict) else v for v in values.values()]
    return list(values), params


def _insert(seeded: Seeded, names: list[str]) -> sql.Composable:
    return sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        seeded.ident,
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(", ").join(sql.Placeholder() * len(names)),
    )


def _key_match(seeded: Seeded, row: dict) -> tuple[sql.Composable, list]:
    cond = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in seeded.key)
    return cond, [row[k] for k in seeded.key]


def _fresh_copy(row: dict) -> dict:
    """A copy of `row` with a new id, so only the org decides whether it may be written."""
    copy = dict(row)
    if "id" in copy:
        copy["id"] = uuid.uuid4()
    return copy


# ----- the attacks ----------------------------------------------------------

def select_sees_only_own_org(app_url: str, s: Seeded) -> list[str]:
    seen: list[tuple] = []
    _as_app(app_url, s.org_a, lambda c: seen.extend(
        c.execute(sql.SQL("SELECT org_id FROM {}").format(s.ident)).fetchall()))
    leaks = [r for r in seen if r[0] != s.org_a]
    out = [f"select: saw {len(leaks)} row(s) of another org"] if leaks else []
    if len(seen) - len(leaks) != len(s.rows_a):
        out.append(f"select: saw {len(seen) - len(leaks)} of the org's own {len(s.rows_a)} row(s)")
    return out


def select_by_other_org_id_returns_nothing(app_url: str, s: Seeded) -> list[str]:
    found: list[int] = []
    _as_app(app_url, s.org_a, lambda c: found.append(c.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE org_id = %s").format(s.ident), (s.org_b,)).fetchone()[0]))
    return [f"select where org_id = B: {found[0]} row(s)"] if found[0] else []


def update_other_org_changes_nothing(app_url: str, s: Seeded) -> list[str]:
    key = s.key[-1]
    stmt = sql.SQL("UPDATE {} SET {} = {} WHERE org_id = %s").format(
        s.ident, sql.Identifier(key), sql.Identifier(key))
    return _changes_nothing(app_url, s.org_a, stmt, (s.org_b,), "update B's rows")


def delete_other_org_changes_nothing(app_url: str, s: Seeded) -> list[str]:
    stmt = sql.SQL("DELETE FROM {} WHERE org_id = %s").format(s.ident)
    return _changes_nothing(app_url, s.org_a, stmt, (s.org_b,), "delete B's rows")


def insert_into_other_org_rejected(app_url: str, s: Seeded) -> list[str]:
    names, params = _row_values(_fresh_copy(s.rows_a[0]), org_id=s.org_b)
    return _rejected(app_url, s.org_a, _insert(s, names), params, "insert with org_id = B")


def update_moving_row_to_other_org_rejected(app_url: str, s: Seeded) -> list[str]:
    cond, params = _key_match(s, s.rows_a[0])
    stmt = sql.SQL("UPDATE {} SET org_id = %s WHERE {}").format(s.ident, cond)
    return _rejected(app_url, s.org_a, stmt, [s.org_b, *params], "move A's row to B")


def copy_to_stdout_leaks_nothing(app_url: str, s: Seeded) -> list[str]:
    out: list[str] = []
    for label, stmt in (
        ("COPY (SELECT ...)", sql.SQL("COPY (SELECT * FROM {}) TO STDOUT").format(s.ident)),
        ("COPY table", sql.SQL("COPY {} TO STDOUT").format(s.ident)),
    ):
        data = bytearray()

        def work(conn: psycopg.Connection, stmt=stmt) -> None:
            with conn.cursor().copy(stmt) as copy:
                for chunk in copy:
                    data.extend(chunk)

        try:
            _as_app(app_url, s.org_a, work)
        except psycopg.errors.InsufficientPrivilege:
            continue
        if str(s.org_b).encode() in data:
            out.append(f"{label}: output contains B's rows")
    return out


def no_org_sees_and_writes_nothing(app_url: str, s: Seeded) -> list[str]:
    """With app.org_id unset, and with it set to '' (what RESET leaves), nothing is visible or writable."""
    out: list[str] = []
    for label, org in (("unset", None), ("empty", "")):
        counted: list[int] = []
        _as_app(app_url, org, lambda c: counted.append(
            c.execute(sql.SQL("SELECT count(*) FROM {}").format(s.ident)).fetchone()[0]))
        if counted[0]:
            out.append(f"org {label}: select saw {counted[0]} row(s)")
        names, params = _row_values(_fresh_copy(s.rows_a[0]))
        out += _rejected(app_url, org, _insert(s, names), params, f"org {label}: insert")
        key = s.key[-1]
        out += _changes_nothing(app_url, org, sql.SQL("UPDATE {} SET {} = {}").format(
            s.ident, sql.Identifier(key), sql.Identifier(key)), None, f"org {label}: update")
        out += _changes_nothing(app_url, org, sql.SQL("DELETE FROM {}").format(s.ident), None,
                                f"org {label}: delete")
    return out


ATTACKS: dict[str, Callable[[str, Seeded], list[str]]] = {
    f.__name__: f
    for f in (
        select_sees_only_own_org,
        select_by_other_org_id_returns_nothing,
        update_other_org_changes_nothing,
        delete_other_org_changes_nothing,
        insert_into_other_org_rejected,
        update_moving_row_to_other_org_rejected,
        copy_to_stdout_leaks_nothing,
        no_org_sees_and_writes_nothing,
    )
}


def run_all(admin_url: str, app_url: str, seeded: Seeded) -> list[str]:
    """Every attack, then a check that neither org's rows changed."""
    before = (snapshot(admin_url, seeded, seeded.org_a), snapshot(admin_url, seeded, seeded.org_b))
    violations = [v for attack in ATTACKS.values() for v in attack(app_url, seeded)]
    after = (snapshot(admin_url, seeded, seeded.org_a), snapshot(admin_url, seeded, seeded.org_b))
    if after[1] != before[1]:
        violations.append("B's rows changed")
    if after[0] != before[0]:
        violations.append("A's rows changed")
    return violations
