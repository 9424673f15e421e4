"""Org connections over HTTP: CRUD by role, audited, credentials never shown, hosts guarded, orgs apart."""
from __future__ import annotations

import logging

import psycopg
import pytest
from cryptography.fernet import Fernet

from tests.support.api import TwoOrgs, close_app, make_app, two_org_world
from tests.support.datasource import external_datasource
from tests.support.errors import error_code, error_of

BASE = "/api/v1/admin/connections"
KEY = Fernet.generate_key().decode()


@pytest.fixture(scope="module")
def ds(db_factory):
    with external_datasource(db_factory) as datasource:
        yield datasource


@pytest.fixture(scope="module")
def world(db_factory, tmp_path_factory, ds):
    with two_org_world(db_factory, semantic_root=str(tmp_path_factory.mktemp("semantic")),
                       connection_keys=KEY, connection_allowed_hosts=ds.allowed()) as built:
        yield built


def stored(world: TwoOrgs, org: str) -> list[dict]:
    with psycopg.connect(world.db.admin_url) as conn:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        return cur.execute("SELECT * FROM org_connections WHERE org_id = %s ORDER BY id",
                           (world.org(org),)).fetchall()


def audit_rows(world: TwoOrgs, org: str, entity_id: str) -> list[tuple]:
    with psycopg.connect(world.db.admin_url) as conn:
        return conn.execute("SELECT action, outcome, detail::text FROM audit_log WHERE org_id = %s"
                            " AND entity = 'connection' AND entity_id = %s ORDER BY occurred_at",
                            (world.org(org), entity_id)).fetchall()


@pytest.mark.parametrize("role", ["admin", "owner"])
def test_admins_and_owners_create_read_update_and_delete(world, ds, role):
    user, name = world.user("a", role), f"wh-{role}"
    r = user.post(BASE, json={"id": name, "url": ds.url(), "description": "warehouse"})
    assert r.status_code == 201, r.get_json()
    created = r.get_json()
    assert created["id"] == name and created["hasPassword"] is True and created["version"] == 1
    assert created["url"] == f"postgresql://{ds.role}@{ds.host}:{ds.port}/{ds.dbname}?sslmode=prefer"
    assert user.get(f"{BASE}/{name}").get_json() == created
    assert name in [c["id"] for c in user.get(BASE).get_json()["connections"]]
    r = user.patch(f"{BASE}/{name}", json={"description": "the warehouse"})
    assert r.status_code == 200 and r.get_json()["description"] == "the warehouse" and r.get_json()["version"] == 2
    assert user.delete(f"{BASE}/{name}").status_code == 204
    assert error_code(user.get(f"{BASE}/{name}")) == "not_found"
    actions = [row[0] for row in audit_rows(world, "a", name)]
    assert actions == ["connection.create", "connection.update", "connection.delete"]


def test_a_member_reads_connections_but_changes_nothing_and_sees_no_pool_numbers(world, ds):
    owner, member = world.user("a", "owner"), world.user("a", "member")
    assert owner.post(BASE, json={"id": "shared-ro", "url": ds.url()}).status_code == 201
    before = stored(world, "a")
    listing = member.get(BASE)
    assert listing.status_code == 200
    assert "shared-ro" in [c["id"] for c in listing.get_json()["connections"]]
    assert "orgs" not in listing.get_json() and "base" not in listing.get_json()
    assert member.get(f"{BASE}/shared-ro").status_code == 200
    refused = [member.post(BASE, json={"id": "mine", "url": ds.url()}),
               member.patch(f"{BASE}/shared-ro", json={"description": "x"}),
               member.delete(f"{BASE}/shared-ro"), member.post(f"{BASE}/shared-ro/test")]
    assert [r.status_code for r in refused] == [403, 403, 403, 403]
    assert stored(world, "a") == before


def test_the_password_is_never_in_a_response_an_audit_entry_or_a_log_line(world, ds, caplog):
    caplog.set_level(logging.DEBUG)
    owner = world.user("a", "owner")
    bodies = []

    def keep(response):  # type: ignore[no-untyped-def]
        bodies.append(response.get_data(as_text=True) + str(dict(response.headers)))
        return response

    keep(owner.post(BASE, json={"id": "secret-in-url", "url": ds.url()}))
    keep(owner.post(BASE, json={"id": "secret-apart", "url": ds.url(password=False), "password": ds.password}))
    keep(owner.post(BASE, json={"id": "both", "url": ds.url(), "password": ds.password}))  # 400
    keep(owner.post(BASE, json={"id": "bad-param", "url": ds.url() + "?passfile=/etc/passwd"}))  # 400
    keep(owner.post(BASE, json={"id": "bad-host", "url": ds.url(host="10.1.2.3")}))  # 400
    keep(owner.get(BASE))
    keep(owner.get(f"{BASE}/secret-in-url"))
    keep(owner.patch(f"{BASE}/secret-apart", json={"password": ds.password}))
    keep(owner.post(f"{BASE}/secret-in-url/test"))
    keep(owner.patch(f"{BASE}/secret-apart", json={"url": ds.url().replace(ds.dbname, "no_such_db")}))
    keep(owner.post(f"{BASE}/secret-apart/test"))  # fails: the database does not exist
    keep(owner.post("/api/v1/query", json={"sql": "SELECT 1 AS one", "connectionId": "secret-apart"}))
    assert [b for b in bodies if ds.password in b] == []
    assert ds.password not in caplog.text
    assert bodies[1].count('"hasPassword":true') == 1
    assert '"ok":true' in bodies[8] and '"ok":false' in bodies[10] and "no_such_db" in bodies[10]
    with psycopg.connect(world.db.admin_url) as conn:
        dumped = conn.execute("SELECT string_agg(t::text, ' ') FROM org_connections t").fetchone()[0]
        audited = conn.execute("SELECT string_agg(detail::text, ' ') FROM audit_log").fetchone()[0]
    assert ds.password not in dumped and ds.password not in audited


def test_the_password_is_stored_as_a_fernet_token_under_the_configured_key(world, ds):
    owner = world.user("a", "owner")
    assert owner.post(BASE, json={"id": "sealed", "url": ds.url()}).status_code == 201
    row = next(r for r in stored(world, "a") if r["id"] == "sealed")
    assert row["password_ciphertext"] != ds.password
    assert Fernet(KEY.encode()).decrypt(row["password_ciphertext"].encode()).decode() == ds.password


@pytest.mark.parametrize("url", [
    "postgresql://ro:pw@10.1.2.3:5432/db",                 # a private address
    "postgresql://ro:pw@169.254.169.254:80/db",            # a cloud metadata endpoint
    "postgresql://ro:pw@127.0.0.1:6379/db",                # the right host, another service's port
    "postgresql://ro:pw@[::1]:5432/db",                    # another address of this machine
])
def test_a_url_to_a_host_not_allowed_is_refused_naming_the_setting(world, url):
    before = stored(world, "b")
    r = world.user("b", "admin").post(BASE, json={"id": "probe", "url": url})
    assert r.status_code == 400 and error_code(r) == "connection_host_not_allowed"
    assert "ATLAS_CONNECTION_ALLOWED_HOSTS" in error_of(r)["message"]
    assert stored(world, "b") == before


@pytest.mark.parametrize("url", [
    "postgresql://ro@127.0.0.1:5432/db?hostaddr=10.0.0.1",
    "postgresql://ro@127.0.0.1:5432/db?passfile=/etc/passwd",
    "postgresql://ro@127.0.0.1:5432/db?options=-c%20default_transaction_read_only%3Doff",
    "postgresql://ro@127.0.0.1:5432,10.0.0.1:5432/db",
    "postgresql://ro@%2Ftmp/db",
    "mysql://ro@127.0.0.1:5432/db",
])
def test_libpq_parameters_and_host_lists_are_refused(world, url):
    r = world.user("b", "admin").post(BASE, json={"id": "probe", "url": url})
    assert r.status_code == 400 and error_code(r) in ("validation_error", "connection_host_not_allowed")
    assert error_of(r)["fields"].get("url")


def test_an_edit_to_a_disallowed_host_is_refused_and_changes_nothing(world, ds):
    owner = world.user("b", "owner")
    assert owner.post(BASE, json={"id": "moving", "url": ds.url()}).status_code == 201
    before = stored(world, "b")
    r = owner.patch(f"{BASE}/moving", json={"url": ds.url(host="10.9.9.9")})
    assert error_code(r) == "connection_host_not_allowed"
    assert stored(world, "b") == before


def test_org_b_cannot_see_change_test_or_query_org_as_connection(world, ds):
    """The attack: B names A's connection id everywhere it can. A's connection is untouched."""
    assert world.user("a", "owner").post(BASE, json={"id": "acme-only", "url": ds.url()}).status_code == 201
    before = stored(world, "a")
    for role in ("member", "admin", "owner"):
        attacker = world.user("b", role)
        assert "acme-only" not in [c["id"] for c in attacker.get(BASE).get_json()["connections"]]
        attempts = [attacker.get(f"{BASE}/acme-only"),
                    attacker.patch(f"{BASE}/acme-only", json={"url": ds.url(host="10.0.0.1")}),
                    attacker.delete(f"{BASE}/acme-only"), attacker.post(f"{BASE}/acme-only/test"),
                    attacker.post("/api/v1/query", json={"sql": "SELECT 1 AS one", "connectionId": "acme-only"})]
        codes = [(r.status_code, error_code(r)) for r in attempts]
        allowed_forbidden = (403, "forbidden")  # members may not patch, delete or test at all
        assert all(c == (404, "not_found") or (role == "member" and c == allowed_forbidden) for c in codes), codes
    assert stored(world, "a") == before
    # B may use the same id for a connection of its own; A's stays as it was.
    assert world.user("b", "owner").post(BASE, json={"id": "acme-only", "url": ds.url()}).status_code == 201
    assert stored(world, "a") == before


def test_a_taken_id_is_409_and_default_is_reserved(world, ds):
    owner = world.user("b", "owner")
    assert owner.post(BASE, json={"id": "twice", "url": ds.url()}).status_code == 201
    assert owner.post(BASE, json={"id": "twice", "url": ds.url()}).status_code == 409
    assert owner.post(BASE, json={"id": "default", "url": ds.url()}).status_code == 400


def test_atlas_own_database_and_roles_are_never_a_datasource(world, ds):
    """The allowed host is Atlas's own server: its database and its roles stay out of reach; its roles
    are refused by name on any host, listed or not (a login as one of them is a request for its password)."""
    owner, roles = world.user("b", "owner"), world.db.roles
    own_db = ds.url(password=False).replace(f"/{ds.dbname}", f"/{world.db.name}")
    before = stored(world, "b")
    r = owner.post(BASE, json={"id": "inside", "url": own_db})
    assert r.status_code == 400 and "Atlas's own database" in error_of(r)["message"]
    for role in (roles.app, roles.agent, roles.platform, roles.owner, "postgres"):
        for host in (f"{ds.host}:{ds.port}", "tenant-controlled.example:5432", "203.0.113.9:5432"):
            r = owner.post(BASE, json={"id": "inside", "url": f"postgresql://{role}@{host}/{ds.dbname}"})
            assert r.status_code == 400 and "one of Atlas's own roles" in error_of(r)["message"], (role, host)
            assert error_of(r)["fields"]["url"]
    assert stored(world, "b") == before


@pytest.mark.parametrize("dbname", ["template1", "postgres", "template0"])
def test_a_listed_server_s_maintenance_databases_are_refused(world, ds, dbname):
    """The attack (issue 24, item 11): the operator listed the server for the org's warehouse; an org admin
    logs in to the server's maintenance database as a non-superuser login role instead."""
    admin, before = world.user("a", "admin"), stored(world, "a")
    r = admin.post(BASE, json={"id": "maint", "url": ds.url().replace(f"/{ds.dbname}", f"/{dbname}")})
    assert r.status_code == 400 and error_code(r) == "connection_host_not_allowed"
    assert "maintenance database" in error_of(r)["message"] and "ATLAS_CONNECTION_ALLOWED_HOSTS" in error_of(r)["message"]
    assert stored(world, "a") == before


def test_with_the_allowlist_unset_no_connection_can_be_made(db_factory, tmp_path_factory, ds):
    """The attack (issue 24, item 11): with ATLAS_CONNECTION_ALLOWED_HOSTS unset, an org admin logs in to the
    database server's other databases (template1, postgres, another deployment's) as a non-superuser role."""
    with two_org_world(db_factory, semantic_root=str(tmp_path_factory.mktemp("semantic")),
                       connection_keys=KEY) as world:
        admin = world.user("a", "admin")
        for dbname in ("template1", "postgres", ds.dbname):
            r = admin.post(BASE, json={"id": "inside", "url": ds.url().replace(f"/{ds.dbname}", f"/{dbname}")})
            assert r.status_code == 400 and error_code(r) == "connection_host_not_allowed", r.get_json()
            assert "ATLAS_CONNECTION_ALLOWED_HOSTS lists no host" in error_of(r)["message"]
        assert stored(world, "a") == []


def test_without_a_key_a_password_is_refused_naming_the_setting_not_a_bare_500(world, ds):
    """docs/connections.md promises configuration_error naming ATLAS_CONNECTION_KEYS (it used to be 'quote request id')."""
    app = make_app(world.db, connection_allowed_hosts=ds.allowed())  # the same database, no key configured
    try:
        before = stored(world, "a")
        r = app.test_client().post(BASE, json={"id": "nokey", "url": ds.url()},
                                   headers={"Authorization": f"Bearer {world.user('a', 'owner').token}"})
        assert r.status_code == 503 and error_code(r) == "configuration_error"
        assert "ATLAS_CONNECTION_KEYS" in error_of(r)["message"] and ds.password not in r.get_data(as_text=True)
        assert stored(world, "a") == before
    finally:
        close_app(app)
