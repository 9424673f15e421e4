"""Deterministic CRM data for three orgs, and the databases the gateway proofs run on.

Every org gets a different number of rows of every CRM table, drawn from shared
pools (the same account names, cities and industries appear in every org), so a
join on a name or a count that crosses orgs gives a different answer. Text and
ids of each org are recognisable (emails end in @<slug>.example; notes and file
bodies carry `[<slug>]`), so a leak shows in any result.

`seeded(db_factory)` builds, once per test run:
  full       every org's rows (the multi-tenant database)
  solo[org]  a clone holding only that org's rows (others deleted as superuser)
"""
from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

import psycopg
from psycopg import sql

from app.devdb.databases import DatabaseFactory, TestDatabase

ORG_SLUGS = ("orga", "orgb", "orgc")
SIZES = {  # per org: accounts, contacts, leads, opportunities, activities, notes, projects, sites, files
    "orga": (9, 18, 14, 16, 24, 12, 6, 10, 6),
    "orgb": (12, 23, 11, 21, 30, 15, 8, 13, 7),
    "orgc": (7, 15, 17, 12, 19, 10, 5, 8, 5),
}
_BASE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
ACCOUNT_NAMES = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne",
                 "Tyrell", "Cyberdyne", "Soylent", "Wonka", "Oceanic", "Massive")
INDUSTRIES = ("software", "retail", "finance", "health", None)
CITIES = (("Paris", "IDF", "FR"), ("Berlin", "BE", "DE"), ("Lisbon", "LX", "PT"),
          ("Austin", "TX", "US"), ("Oslo", "OS", "NO"), ("Lyon", "ARA", "FR"))
FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim")
LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "")
STAGES = ("prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost")
LEAD_SOURCES = ("web", "referral", "event", "outbound", "partner", "other")
LEAD_STATUSES = ("new", "contacted", "qualified", "disqualified", "converted")
LIFECYCLE = ("subscriber", "lead", "customer", "evangelist", "other")
KINDS = ("call", "email", "meeting", "task")
PROJECT_STATUSES = ("planned", "active", "on_hold", "done", "canceled")


@dataclass
class Seeded:
    """The databases and what each org owns (ids and marker texts, for leak checks)."""

    full: TestDatabase
    orgs: dict[str, uuid.UUID]
    solo: dict[str, TestDatabase] = field(default_factory=dict)
    ids: dict[str, set[str]] = field(default_factory=dict)

    def foreign_markers(self, slug: str) -> set[str]:
        """Strings that must never appear in a result computed for org `slug`."""
        markers: set[str] = set()
        for other, org in self.orgs.items():
            if other != slug:
                markers |= {str(org), f"@{other}.example", f"[{other}]"} | self.ids[other]
        return markers


_CACHE: dict[str, Seeded] = {}


def seeded(db_factory: DatabaseFactory, *, solo_for: tuple[str, ...] = ("orga", "orgb")) -> Seeded:
    """The seeded databases of this test run (built on first use, dropped with the run)."""
    key = db_factory.prefix
    if key not in _CACHE:
        full = db_factory.clone()
        orgs, ids = seed(full.admin_url)
        with psycopg.connect(full.admin_url, autocommit=True) as conn:
            conn.execute("ANALYZE")  # statistics views then hold every org's values
        _CACHE[key] = Seeded(full=full, orgs=orgs, ids=ids)
    result = _CACHE[key]
    for slug in solo_for:
        if slug not in result.solo:
            db = db_factory.clone()
            seed(db.admin_url)
            with psycopg.connect(db.admin_url, autocommit=True) as conn:
                conn.execute("DELETE FROM organizations WHERE id <> %s", (result.orgs[slug],))
                conn.execute("ANALYZE")
            result.solo[slug] = db
    return result


def seed(admin_url: str) -> tuple[dict[str, uuid.UUID], dict[str, set[str]]]:
    """Insert the same three orgs, byte for byte, into the database at admin_url."""
    orgs: dict[str, uuid.UUID] = {}
    ids: dict[str, set[str]] = {}
    with psycopg.connect(admin_url) as conn:
        for index, slug in enumerate(ORG_SLUGS):
            rng = random.Random(f"atlas-gateway-seed-{slug}")
            org = _uuid(rng)
            orgs[slug] = org
            conn.execute(
                "INSERT INTO organizations (id, name, slug, created_at) VALUES (%s, %s, %s, %s)",
                (org, f"Org {slug.upper()}", slug, _BASE),
            )
            ids[slug] = _seed_org(conn, rng, org, slug, SIZES[slug], index)
    return orgs, ids


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _when(rng: random.Random, *, days: int = 365) -> dt.datetime:
    return _BASE + dt.timedelta(minutes=rng.randrange(days * 24 * 60))


def _maybe(rng: random.Random, values: list, *, none_ratio: float = 0.2):
    return None if not values or rng.random() < none_ratio else rng.choice(values)


def _insert(conn: psycopg.Connection, table: str, rows: list[dict]) -> None:
    for row in rows:  # updated_at defaults to now(): fixed so every copy is identical
        row["updated_at"] = row["created_at"]
    names = list(rows[0])
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(", ").join(sql.Placeholder() * len(names)),
    )
    with conn.cursor() as cur:
        cur.executemany(query, [[r[n] for n in names] for r in rows])


def _seed_org(conn, rng, org, slug, sizes, index) -> set[str]:
    n_acc, n_con, n_lead, n_opp, n_act, n_note, n_proj, n_site, n_file = sizes
    users = []
    for i in range(3):
        user = _uuid(rng)
        users.append(user)
        conn.execute(
            "INSERT INTO users (id, email, name, password_hash) VALUES (%s, %s, %s, 'x')",
            (user, f"user{i}@{slug}.example", f"User {i} {slug}"),
        )
        conn.execute("INSERT INTO members (org_id, user_id, role) VALUES (%s, %s, %s)",
                     (org, user, ("owner", "admin", "member")[i]))
    accounts = [dict(
        org_id=org, id=_uuid(rng), name=ACCOUNT_NAMES[(i * 3 + index) % len(ACCOUNT_NAMES)],
        domain=f"acct{i}.{slug}.example", industry=rng.choice(INDUSTRIES),
        employee_count=_maybe(rng, list(range(5, 5000, 7))), annual_revenue=_maybe(rng, [Decimal(rng.randint(1, 900) * 10000)]),
        owner_id=_maybe(rng, users), created_at=_when(rng),
    ) for i in range(n_acc)]
    acc_ids = [a["id"] for a in accounts]
    contacts = [dict(
        org_id=org, id=_uuid(rng), account_id=_maybe(rng, acc_ids, none_ratio=0.15),
        first_name=rng.choice(FIRST), last_name=rng.choice(LAST),
        email=None if i % 7 == 3 else f"c{i}@{slug}.example", title=rng.choice(("CEO", "CTO", "VP Sales", None)),
        lifecycle_stage=rng.choice(LIFECYCLE), owner_id=_maybe(rng, users), created_at=_when(rng),
    ) for i in range(n_con)]
    con_ids = [c["id"] for c in contacts]
    leads = [dict(
        org_id=org, id=_uuid(rng), first_name=rng.choice(FIRST), last_name=rng.choice(LAST),
        email=f"lead{i}@{slug}.example", company=_maybe(rng, list(ACCOUNT_NAMES)),
        source=rng.choice(LEAD_SOURCES), status=rng.choice(LEAD_STATUSES), score=rng.randint(0, 100),
        owner_id=_maybe(rng, users), converted_contact_id=_maybe(rng, con_ids, none_ratio=0.7),
        created_at=_when(rng),
    ) for i in range(n_lead)]
    opportunities = [dict(
        org_id=org, id=_uuid(rng), account_id=_maybe(rng, acc_ids, none_ratio=0.1),
        primary_contact_id=_maybe(rng, con_ids, none_ratio=0.4), name=f"Deal {i}",
        stage=rng.choice(STAGES), amount=Decimal(rng.randint(1, 400) * 250), currency=rng.choice(("USD", "EUR")),
        probability=rng.choice((10, 25, 50, 75, 90)),
        close_date=None if i % 5 == 0 else (_BASE + dt.timedelta(days=rng.randint(0, 500))).date(),
        owner_id=_maybe(rng, users), created_at=_when(rng),
    ) for i in range(n_opp)]
    opp_ids = [o["id"] for o in opportunities]
    activities = []
    for i in range(n_act):
        due = _when(rng, days=500)
        activities.append(dict(
            org_id=org, id=_uuid(rng), kind=rng.choice(KINDS), subject=f"Activity {i % 9}",
            details=None if i % 4 == 0 else f"details {i} [{slug}]", due_at=due,
            completed_at=due + dt.timedelta(hours=rng.randint(1, 72)) if rng.random() < 0.5 else None,
            contact_id=_maybe(rng, con_ids, none_ratio=0.3), account_id=_maybe(rng, acc_ids, none_ratio=0.3),
            opportunity_id=_maybe(rng, opp_ids, none_ratio=0.4), owner_id=_maybe(rng, users), created_at=_when(rng),
        ))
    notes = [dict(
        org_id=org, id=_uuid(rng), body=f"Note {i}: follow up with {rng.choice(ACCOUNT_NAMES)} [{slug}]",
        contact_id=_maybe(rng, con_ids, none_ratio=0.5), account_id=_maybe(rng, acc_ids, none_ratio=0.5),
        opportunity_id=_maybe(rng, opp_ids, none_ratio=0.5), author_id=_maybe(rng, users), created_at=_when(rng),
    ) for i in range(n_note)]
    projects = []
    for i in range(n_proj):
        start = (_BASE + dt.timedelta(days=rng.randint(0, 300))).date() if i % 3 else None
        projects.append(dict(
            org_id=org, id=_uuid(rng), name=f"Project {ACCOUNT_NAMES[i % 6]}",
            description=f"scope {i} [{slug}]", status=rng.choice(PROJECT_STATUSES),
            account_id=_maybe(rng, acc_ids), start_date=start,
            due_date=start + dt.timedelta(days=rng.randint(10, 200)) if start and i % 2 else None,
            budget=_maybe(rng, [Decimal(rng.randint(1, 100) * 1000)]), owner_id=_maybe(rng, users), created_at=_when(rng),
        ))
    proj_ids = [p["id"] for p in projects]
    sites = []
    for i in range(n_site):
        city, region, country = rng.choice(CITIES)
        sites.append(dict(
            org_id=org, id=_uuid(rng), account_id=_maybe(rng, acc_ids, none_ratio=0.1), name=f"Site {i}",
            address_line=f"{i} Main St", city=city, region=region, postal_code=f"{rng.randint(10000, 99999)}",
            country=country, created_at=_when(rng),
        ))
    files = [dict(
        org_id=org, id=_uuid(rng), title=f"Guide {i} [{slug}]", filename=f"guide-{i}.md",
        content_type=rng.choice(("text/markdown", "text/plain", "application/pdf")),
        size_bytes=rng.randint(100, 90000), body=f"# Guide {i}\nsecret [{slug}]",
        project_id=_maybe(rng, proj_ids), created_by=_maybe(rng, users), created_at=_when(rng),
    ) for i in range(n_file)]
    for table, rows in (("accounts", accounts), ("contacts", contacts), ("leads", leads),
                        ("opportunities", opportunities), ("activities", activities), ("notes", notes),
                        ("projects", projects), ("sites", sites), ("knowledge_files", files)):
        _insert(conn, table, rows)
    all_rows = accounts + contacts + leads + opportunities + activities + notes + projects + sites + files
    return {str(r["id"]) for r in all_rows} | {str(u) for u in users}
