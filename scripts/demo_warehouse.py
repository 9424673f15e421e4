"""The demo's sample warehouse: an org's own PostgreSQL database, reached through an org connection.

`make demo` runs `prepare` (from scripts/demo.py): a database `atlas_demo_warehouse` beside the demo's own
(regions, products and a few hundred orders), a login role that may only read it, and Acme's connection
`warehouse` to it with an entity per table, made through the API as an Acme admin would. The settings
that connection needs, the encryption key (ATLAS_CONNECTION_KEYS) and the allowlist entry naming exactly
that database (ATLAS_CONNECTION_ALLOWED_HOSTS), are kept with the role's password in .demo/demo.json,
made once, so a second run (and scripts/demo_serve.py) use the same ones. Settings an operator exported
themselves are kept; the warehouse entry is added to an allowlist given.
"""
from __future__ import annotations

import json
import os
import random
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from cryptography.fernet import Fernet
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parents[1]
KEPT = ROOT / ".demo" / "demo.json"
DBNAME, ROLE, CONNECTION = "atlas_demo_warehouse", "atlas_demo_reader", "warehouse"
REGIONS = ("north", "south", "east", "west")
CATEGORIES = ("hardware", "software", "services")
ORDERS = 400
ENTITIES = {
    "wh_regions": """table: regions
connection: warehouse
description: Sales regions of the warehouse. One row per region.
dimensions:
  - {name: id, sql: id, type: integer, primary_key: true}
  - {name: name, sql: name, type: string, sample_values: [north, south, east, west]}
""",
    "wh_products": """table: products
connection: warehouse
description: Products sold. One row per product.
dimensions:
  - {name: id, sql: id, type: integer, primary_key: true}
  - {name: name, sql: name, type: string}
  - {name: category, sql: category, type: string, sample_values: [hardware, software, services]}
  - {name: unit_price, sql: unit_price, type: number}
""",
    "wh_orders": """table: orders
connection: warehouse
description: Orders placed. One row per order; region_id and product_id link to regions and products.
dimensions:
  - {name: id, sql: id, type: integer, primary_key: true}
  - {name: ordered_on, sql: ordered_on, type: date}
  - {name: region_id, sql: region_id, type: integer}
  - {name: product_id, sql: product_id, type: integer}
  - {name: quantity, sql: quantity, type: integer}
measures:
  - {name: revenue, sql: amount, type: sum, description: Order value}
joins:
  - {target_entity: wh_regions, relationship: many_to_one, join_columns: {from: region_id, to: id}}
  - {target_entity: wh_products, relationship: many_to_one, join_columns: {from: product_id, to: id}}
""",
}
QUERY = ("SELECT r.name AS region, count(*) AS orders, sum(o.amount) AS revenue FROM orders o"
         " JOIN regions r ON r.id = o.region_id GROUP BY r.name ORDER BY r.name")


@dataclass(frozen=True)
class Warehouse:
    host: str
    port: int
    password: str
    connection_keys: str
    allowed_hosts: str

    @property
    def url(self) -> str:
        """The connection's URL as an admin types it (the password travels apart)."""
        return f"postgresql://{ROLE}@{self.host}:{self.port}/{DBNAME}"


def kept() -> dict[str, str]:
    """The demo's generated secrets, made once: the reader's password and a connection key."""
    if KEPT.exists():
        return dict(json.loads(KEPT.read_text()))
    KEPT.parent.mkdir(exist_ok=True)
    values = {"warehouse_password": secrets.token_urlsafe(18), "connection_keys": Fernet.generate_key().decode()}
    KEPT.touch(mode=0o600)
    KEPT.write_text(json.dumps(values, indent=2) + "\n")
    return values


def warehouse_for(database_url: str, environ: Mapping[str, str] = os.environ) -> Warehouse:
    """Where the warehouse is (the demo database's server) and the settings the demo runs with."""
    info = conninfo_to_dict(database_url)
    host, port = str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432)
    values = kept()
    entry = f"{host}:{port}/{DBNAME}"
    given = environ.get("ATLAS_CONNECTION_ALLOWED_HOSTS", "")
    allowed = given if entry in given.split(",") else ",".join(e for e in (given, entry) if e)
    return Warehouse(host=host, port=port, password=values["warehouse_password"],
                     connection_keys=environ.get("ATLAS_CONNECTION_KEYS") or values["connection_keys"],
                     allowed_hosts=allowed)


def environment(database_url: str) -> dict[str, str]:
    """The ATLAS_CONNECTION_* variables the demo's processes run with."""
    warehouse = warehouse_for(database_url)
    return {"ATLAS_CONNECTION_KEYS": warehouse.connection_keys,
            "ATLAS_CONNECTION_ALLOWED_HOSTS": warehouse.allowed_hosts}


def ensure_database(database_url: str, warehouse: Warehouse) -> bool:
    """The warehouse database, its tables and rows, and the read-only role (its password set each run).
    True when the database was made now."""
    with psycopg.connect(make_conninfo(database_url, dbname="postgres"), autocommit=True) as conn:
        made = not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DBNAME,)).fetchone()
        if made:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DBNAME)))
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(ROLE)))
        conn.execute(sql.SQL("ALTER ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
            sql.Identifier(ROLE), sql.Literal(warehouse.password)))
    with psycopg.connect(make_conninfo(database_url, dbname=DBNAME), autocommit=True) as conn:
        if not conn.execute("SELECT to_regclass('public.orders')").fetchone()[0]:
            _fill(conn)
        conn.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(DBNAME), sql.Identifier(ROLE)))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(ROLE)))
        conn.execute(sql.SQL("GRANT SELECT ON regions, products, orders TO {}").format(sql.Identifier(ROLE)))
    return made


def _fill(conn: psycopg.Connection[Any]) -> None:
    rng = random.Random(7)
    with conn.transaction():
        conn.execute("CREATE TABLE regions (id integer PRIMARY KEY, name text NOT NULL)")
        conn.execute("CREATE TABLE products (id integer PRIMARY KEY, name text NOT NULL, category text NOT NULL,"
                     " unit_price numeric(10,2) NOT NULL)")
        conn.execute("CREATE TABLE orders (id integer PRIMARY KEY, ordered_on date NOT NULL,"
                     " region_id integer NOT NULL REFERENCES regions, product_id integer NOT NULL REFERENCES products,"
                     " quantity integer NOT NULL, amount numeric(12,2) NOT NULL)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO regions VALUES (%s, %s)", list(enumerate(REGIONS, 1)))
            products = [(i, f"Product {i:02d}", CATEGORIES[i % 3], rng.randint(5, 500)) for i in range(1, 25)]
            cur.executemany("INSERT INTO products VALUES (%s, %s, %s, %s)", products)
            orders = []
            for i in range(1, ORDERS + 1):
                product = rng.choice(products)
                quantity = rng.randint(1, 20)
                orders.append((i, f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                               rng.randint(1, len(REGIONS)), product[0], quantity, quantity * product[3]))
            cur.executemany("INSERT INTO orders VALUES (%s, %s::date, %s, %s, %s, %s)", orders)


def connect_acme(client: Any, admin_token: str, warehouse: Warehouse) -> str:
    """Acme's connection `warehouse` and its entities, through the API; what was done, for the log."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    base = "/api/v1/admin/connections"
    done = "kept"
    if client.get(f"{base}/{CONNECTION}", headers=headers).status_code == 404:
        r = client.post(base, headers=headers, json={
            "id": CONNECTION, "url": warehouse.url, "password": warehouse.password,
            "description": "The sample warehouse (make demo): regions, products, orders"})
        _expect(r, 201, "creating Acme's warehouse connection")
        done = "made"
    tested = client.post(f"{base}/{CONNECTION}/test", headers=headers)
    if tested.status_code != 200 or not tested.get_json()["ok"]:
        # Made under another key or password (.demo/ was removed): set them again.
        r = client.patch(f"{base}/{CONNECTION}", headers=headers, json={"url": warehouse.url,
                                                                         "password": warehouse.password})
        _expect(r, 200, "updating Acme's warehouse connection")
        tested = client.post(f"{base}/{CONNECTION}/test", headers=headers)
        done = "repaired"
    _expect(tested, 200, "testing Acme's warehouse connection")
    if not tested.get_json()["ok"]:
        raise SystemExit(f"demo warehouse: the connection test failed: {tested.get_json()}")
    for name, yaml in ENTITIES.items():
        r = client.put(f"/api/v1/admin/semantic/org/entities/{name}", headers=headers, json={"yamlContent": yaml})
        if r.status_code not in (200, 201):
            _expect(r, 200, f"describing {name}")
    return done


def _expect(response: Any, status: int, what: str) -> None:
    if response.status_code != status:
        raise SystemExit(f"demo warehouse: {what} -> {response.status_code} {response.get_json()}")
