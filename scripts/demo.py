"""Prepare the demo: a database, migrations, two organizations with users, CRM rows and a semantic layer.

Run by `make demo` before `atlas serve`. Idempotent: a second run finds the
seeded organizations and only prints the credentials again (and profiles an
org that has no semantic entities yet, as a demo seeded by an older version
has none). Users, orgs and memberships are created through the API itself
(sign-up, create, invite, accept), CRM rows through the org-scoped door, and
each org's semantic layer by `atlas init --org` (profiled from that org's own
rows), so the demo exercises the same paths as production and Ask works at once.
Acme also gets a connection to a sample warehouse of its own (scripts/demo_warehouse.py).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from app import close_app, create_app
from app.config import Settings
from app.crm import repository
from app.db.migrate import migrate
from app.entities import ENTITIES
from app.http.context import services
from app.semantic.initialize import run_init
from scripts import demo_warehouse

PASSWORD = "atlas-demo-password"
PLATFORM_ADMIN = "platform@atlas.test"
ORGS = (("Acme", "acme"), ("Globex", "globex"))
ROLES = ("owner", "admin", "member")
FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Ken", "Margaret", "Linus", "Frances"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Thompson", "Hamilton", "Torvalds", "Allen"]


def ensure_database(database_url: str) -> None:
    dbname = conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(make_conninfo(database_url, dbname="postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def _call(client, method: str, path: str, *, token: str | None = None, json: dict | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.open(path, method=method, json=json, headers=headers)
    if response.status_code >= 400:
        raise SystemExit(f"demo seed: {method} {path} -> {response.status_code} {response.get_json()}")
    return response


def _sign_up(client, email: str, name: str) -> str:
    body = {"email": email, "password": PASSWORD, "name": name}
    return _call(client, "POST", "/api/auth/sign-up/email", json=body).get_json()["token"]


def seed_org(client, app, name: str, slug: str, *, rows_per_org: int, rng: random.Random) -> str:
    owner = _sign_up(client, f"owner@{slug}.test", f"{name} Owner")
    org = _call(client, "POST", "/api/auth/organization/create", token=owner,
                json={"name": name, "slug": slug}).get_json()
    org_id = org["id"]
    # Switching orgs issues a fresh token (set-auth-token) and revokes the old one.
    owner = _call(client, "POST", "/api/auth/organization/set-active", token=owner,
                  json={"organizationId": org_id}).headers["set-auth-token"]
    for role in ("admin", "member"):
        email = f"{role}@{slug}.test"
        invitation = _call(client, "POST", "/api/auth/organization/invite-member", token=owner,
                           json={"email": email, "role": role, "organizationId": org_id}).get_json()
        token = _sign_up(client, email, f"{name} {role.title()}")
        _call(client, "POST", "/api/auth/organization/accept-invitation", token=token,
              json={"invitationId": invitation["id"]})
    _seed_crm(app, org_id, slug, rows_per_org=rows_per_org, rng=rng)
    return org_id


def profile_empty_layers(settings: Settings) -> None:
    """`atlas init --org` for every seeded org without semantic entities: the agent may read only declared tables."""
    with psycopg.connect(settings.database.url) as conn:
        bare = conn.execute(
            "SELECT o.id, o.slug FROM organizations o WHERE o.slug = ANY(%s)"
            " AND NOT EXISTS (SELECT 1 FROM semantic_entities e WHERE e.org_id = o.id) ORDER BY o.slug",
            ([slug for _, slug in ORGS],)).fetchall()
    for org_id, slug in bare:
        print(f"profiling the semantic layer of {slug} (atlas init --org {slug})")
        run_init(settings, org=str(org_id), tables=None, do_import=True)


def _seed_crm(app, org_id: str, slug: str, *, rows_per_org: int, rng: random.Random) -> None:
    db = services(app).db
    today = dt.date.today()
    n_accounts = max(1, rows_per_org // 10)
    with db.transaction(org_id) as scope:
        accounts = [repository.create(scope, ENTITIES["accounts"], {
            "name": f"{slug.title()} Customer {i:03d}", "industry": rng.choice(["Retail", "Energy", "Health", "Software"]),
            "employee_count": rng.randint(5, 5000), "domain": f"customer{i}.{slug}.example"})["id"]
            for i in range(n_accounts)]
        n_contacts = rows_per_org // 2
        for i in range(n_contacts):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            repository.create(scope, ENTITIES["contacts"], {
                "first_name": first, "last_name": last, "account_id": rng.choice(accounts),
                "email": f"{first}.{last}.{i}@{slug}-clients.example".lower(),
                "lifecycle_stage": rng.choice(["lead", "customer", "subscriber"])})
        stages = ENTITIES["opportunities"].by_name["stage"].choices
        for i in range(rows_per_org - n_accounts - n_contacts):
            repository.create(scope, ENTITIES["opportunities"], {
                "name": f"{slug.title()} deal {i:04d}", "account_id": rng.choice(accounts),
                "stage": rng.choice(stages), "amount": rng.randint(1, 500) * 100,
                "close_date": today + dt.timedelta(days=rng.randint(-180, 180))})


def already_seeded(settings: Settings) -> bool:
    with psycopg.connect(settings.database.url) as conn:
        return bool(conn.execute("SELECT count(*) FROM organizations WHERE slug IN ('acme', 'globex')").fetchone()[0])


def connect_warehouse(settings: Settings) -> None:
    """The sample warehouse and Acme's connection to it, as an Acme admin makes it (every run: idempotent)."""
    warehouse = demo_warehouse.warehouse_for(settings.database.url)
    if demo_warehouse.ensure_database(settings.database.url, warehouse):
        print(f"made the sample warehouse {demo_warehouse.DBNAME} ({demo_warehouse.ORDERS} orders)"
              f" and its read-only role {demo_warehouse.ROLE}")
    app = create_app(settings)
    try:
        with app.app_context():
            client = app.test_client(use_cookies=False)
            body = {"email": "admin@acme.test", "password": PASSWORD}
            admin = _call(client, "POST", "/api/auth/sign-in/email", json=body).get_json()["token"]
            done = demo_warehouse.connect_acme(client, admin, warehouse)
    finally:
        close_app(app)
    if done != "kept":
        print(f"{done} Acme's connection {demo_warehouse.CONNECTION!r} to the sample warehouse")


def print_guide(base_url: str, database_url: str) -> None:
    print(f"""
Atlas demo: {base_url}   (the console: open it in a browser and sign in)
  Acme:   owner@acme.test, admin@acme.test, member@acme.test
  Globex: owner@globex.test, admin@globex.test, member@globex.test
  Platform admin (sees every org at /api/v1/admin/organizations): {PLATFORM_ADMIN}
  password for all: {PASSWORD}

Try it (one org never sees the other):
  TOKEN=$(curl -s {base_url}/api/auth/sign-in/email -H 'Content-Type: application/json' \\
      -d '{{"email":"member@acme.test","password":"{PASSWORD}"}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  curl -s {base_url}/api/v1/contacts?limit=3 -H "Authorization: Bearer $TOKEN"
  GLOBEX=$(curl -s {base_url}/api/auth/sign-in/email -H 'Content-Type: application/json' \\
      -d '{{"email":"member@globex.test","password":"{PASSWORD}"}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  ID=$(curl -s "{base_url}/api/v1/contacts?limit=1" -H "Authorization: Bearer $GLOBEX" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
  curl -s {base_url}/api/v1/contacts/$ID -H "Authorization: Bearer $TOKEN"    # Acme asking for Globex's contact: 404
  curl -s {base_url}/api/v1/query -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
      -d '{{"sql": "SELECT lifecycle_stage, count(*) FROM contacts GROUP BY 1"}}'    # agent SQL: Acme's rows only

An agent over MCP (docs/mcp.md), with an API key an Acme admin makes:
  ADMIN=$(curl -s {base_url}/api/auth/sign-in/email -H 'Content-Type: application/json' \\
      -d '{{"email":"admin@acme.test","password":"{PASSWORD}"}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  KEY=$(curl -s {base_url}/api/v1/admin/api-keys -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \\
      -d '{{"name":"agent","role":"member"}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
  ATLAS_TOKEN=$KEY DATABASE_URL='{database_url}' .venv/bin/atlas mcp     # stdio, for a desktop MCP client
  DATABASE_URL='{database_url}' .venv/bin/atlas mcp --http --port 8001   # http://127.0.0.1:8001/mcp, Bearer $KEY

Acme's own warehouse (docs/connections.md): an org connection to a database of its own, with a read-only role.
  The demo allows exactly that database (ATLAS_CONNECTION_ALLOWED_HOSTS) and keeps its key in .demo/demo.json.
  curl -s {base_url}/api/v1/admin/connections -H "Authorization: Bearer $ADMIN"
  curl -s -X POST {base_url}/api/v1/admin/connections/{demo_warehouse.CONNECTION}/test -H "Authorization: Bearer $ADMIN"
  curl -s {base_url}/api/v1/query -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
      -d '{{"connectionId": "{demo_warehouse.CONNECTION}", "sql": "{demo_warehouse.QUERY}"}}'
  The console's Connections page ({base_url}/admin/connections, as admin@acme.test) adds, tests, edits and deletes them.

A background job (docs/jobs.md), run by the demo's own atlas worker:
  curl -s {base_url}/api/v1/jobs -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' -d '{{"kind":"reprofile"}}'
  curl -s {base_url}/api/v1/jobs?limit=1 -H "Authorization: Bearer $ADMIN"    # queued, then running, then succeeded
""")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows-per-org", type=int, default=1000)
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    args = parser.parse_args()
    # Before anything reads the environment (one thread so far): the connection settings the demo runs with.
    os.environ.update(demo_warehouse.environment(os.environ.get("DATABASE_URL", Settings().database.url)))
    settings = Settings.from_env()
    ensure_database(settings.database.url)
    for name in migrate(settings.database.url, roles=settings.database.roles):
        print(f"applied {name}")
    if not already_seeded(settings):
        app = create_app(settings)
        rng = random.Random(42)
        with app.app_context():
            # bearer tokens only: a kept cookie would make every later POST cookie-authenticated (Origin-checked)
            client = app.test_client(use_cookies=False)
            for name, slug in ORGS:
                seed_org(client, app, name, slug, rows_per_org=args.rows_per_org, rng=rng)
            _sign_up(client, PLATFORM_ADMIN, "Platform Admin")
        with psycopg.connect(settings.database.url, autocommit=True) as conn:
            # The platform role is an operator's decision, never an API call.
            conn.execute("UPDATE users SET platform_role = 'admin' WHERE email = %s", (PLATFORM_ADMIN,))
        close_app(app)
        print(f"seeded {', '.join(n for n, _ in ORGS)} with {args.rows_per_org} CRM rows each")
    profile_empty_layers(settings)
    connect_warehouse(settings)
    print_guide(args.base_url, settings.database.url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
