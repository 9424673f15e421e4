"""Tenant connections borrow nothing from Atlas's host (issue 24, item 2).

A tenant chooses where its connection points; the server it names may be its
own, hostile one. libpq fills whatever a conninfo leaves out from the process
environment and the server user's home: the attack is a connection stored
without a password to a server that asks for one, while Atlas's environment
holds `PGPASSFILE` / `PGPASSWORD` for its own database. A fake PostgreSQL
server (tests/support/fake_postgres.py) asks for a cleartext password and
records what arrives.
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from app.connections.conninfo import NOWHERE, UNOVERRIDABLE, libpq_defaults, tenant_conninfo
from app.errors.configuration import ConnectionsConfigurationError
from tests.support.fake_postgres import FakePostgres, fake_postgres
from tests.support.serving import atlas_serve, owner_of_new_org, request

BASE = "/api/v1/admin/connections"

# Atlas builds the conninfo (a pure function); libpq reads it in a subprocess with the environment under test:
# the parameters it settled on (PQconninfo of a connection being started) and a real attempt's error.
PROBE = """
import json, sys
import psycopg
from psycopg import pq
conninfo = sys.argv[1]
started = pq.PGconn.connect_start(conninfo.encode())
effective = {o.keyword.decode(): (o.val or b"").decode() for o in started.info}
started.finish()
try:
    psycopg.connect(conninfo).close()
    error = None
except psycopg.Error as exc:
    error = str(exc)
print(json.dumps({"effective": effective, "error": error}))
"""


def hostile_environment(home: Path, secret: str) -> dict[str, str]:
    """Every PG* variable libpq reads, set to something a tenant's server must never see or feel,
    and a home directory with a .pgpass, a client certificate and key, and a root certificate."""
    (home / ".postgresql").mkdir(parents=True)
    for name in ("postgresql.crt", "postgresql.key", "root.crt", "root.crl"):
        (home / ".postgresql" / name).write_text("stolen\n")
    for path in (home / ".pgpass", home / "pgpass"):
        path.write_text(f"*:*:*:*:{secret}-file\n")
        path.chmod(0o600)
    (home / ".pg_service.conf").write_text(f"[atlas]\npassword={secret}-service\n")
    chosen = {
        "PGHOST": "10.66.66.66", "PGHOSTADDR": "10.66.66.66", "PGPORT": "6666", "PGDATABASE": "stolen_db",
        "PGUSER": "stolen_user", "PGPASSWORD": f"{secret}-env", "PGPASSFILE": str(home / "pgpass"),
        "PGCHANNELBINDING": "require", "PGCONNECT_TIMEOUT": "1", "PGCLIENTENCODING": "LATIN1",
        "PGOPTIONS": "-c search_path=stolen", "PGAPPNAME": "stolen-app", "PGSSLMODE": "require",
        "PGSSLNEGOTIATION": "direct", "PGSSLCOMPRESSION": "1", "PGSSLCERT": str(home / ".postgresql/postgresql.crt"),
        "PGSSLKEY": str(home / ".postgresql/postgresql.key"), "PGSSLCERTMODE": "require",
        "PGSSLROOTCERT": str(home / ".postgresql/root.crt"), "PGSSLCRL": str(home / ".postgresql/root.crl"),
        "PGSSLCRLDIR": str(home), "PGSSLSNI": "0", "PGREQUIREPEER": "stolen", "PGREQUIREAUTH": "password",
        "PGMINPROTOCOLVERSION": "3.2", "PGMAXPROTOCOLVERSION": "3.2", "PGSSLMINPROTOCOLVERSION": "TLSv1.3",
        "PGSSLMAXPROTOCOLVERSION": "TLSv1.3", "PGGSSENCMODE": "require", "PGKRBSRVNAME": "stolen",
        "PGGSSLIB": "gssapi", "PGGSSDELEGATION": "1", "PGTARGETSESSIONATTRS": "read-write",
        "PGLOADBALANCEHOSTS": "random",
        # Read by libpq outside any parameter's default: the deprecated SSL switch, the service files' places.
        "PGREQUIRESSL": "1", "PGSERVICEFILE": str(home / ".pg_service.conf"), "PGSYSCONFDIR": str(home),
        "PGOAUTHDEBUG": "UNSAFE", "HOME": str(home),
    }
    # A variable a newer libpq adds gets a value too, so this test notices what Atlas does not pin.
    for keyword, (envvar, _) in libpq_defaults().items():
        if envvar and envvar not in UNOVERRIDABLE:
            chosen.setdefault(envvar, f"stolen-{keyword}")
    return chosen


def clean_environment(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PG")}, "HOME": str(home)}


def probe(env: dict[str, str], fake: FakePostgres, *, password: str = "", sslmode: str = "prefer") -> dict:
    conninfo = tenant_conninfo(host="localhost", hostaddr="127.0.0.1", port=fake.port, dbname="warehouse",
                               user="reader", password=password, sslmode=sslmode, application_name="atlas:probe",
                               environ=env)
    run = subprocess.run([sys.executable, "-c", PROBE, conninfo], env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def sent(fake: FakePostgres) -> list:
    """The visits that got as far as a start-up message (PQconnectStart in PROBE opens one that ends at once)."""
    return [a for a in fake.attempts if a.startup or a.password is not None]


def test_no_pg_variable_or_home_file_changes_what_a_tenant_connection_uses_or_sends(tmp_path):
    """The same connection, once with every PG* variable and home file hostile and once with none:
    libpq settles on the same parameters, the server sees the same start-up message and no password."""
    secret = "atlas-secret-" + secrets.token_hex(8)
    with fake_postgres() as fake:
        hostile = probe(hostile_environment(tmp_path / "hostile", secret), fake)
        clean = probe(clean_environment(tmp_path / "clean"), fake)
        attempts = sent(fake)
    assert hostile["effective"] == clean["effective"]
    leaked = [(k, v) for k, v in hostile["effective"].items() if "stolen" in v or secret in v or "hostile" in v]
    assert leaked == []
    assert hostile["effective"]["passfile"] == NOWHERE and hostile["effective"]["sslcert"] == NOWHERE
    assert len(attempts) == 2 and attempts[0].startup == attempts[1].startup
    assert attempts[0].startup == {"user": "reader", "database": "warehouse", "application_name": "atlas:probe",
                                   "client_encoding": "UTF8"}
    assert [a.password for a in attempts] == [None, None]
    assert hostile["error"] == clean["error"] and "server requested a cleartext password" in hostile["error"]


def test_a_stored_password_is_what_arrives_not_the_servers(tmp_path):
    """The control: the fake server does record a password when there is one, and it is the tenant's."""
    secret = "atlas-secret-" + secrets.token_hex(8)
    with fake_postgres() as fake:
        probe(hostile_environment(tmp_path / "hostile", secret), fake, password="the-tenants-own")
        assert [a.password for a in sent(fake)] == [b"the-tenants-own"]


@pytest.mark.parametrize("variable", UNOVERRIDABLE)
def test_a_variable_no_conninfo_can_override_turns_tenant_connections_off_naming_it(variable):
    """PGSERVICE is looked up even when given as empty; PGTZ, PGDATESTYLE and PGGEQO are sent as start-up
    settings whatever the conninfo says: while one is set, no tenant connection is built."""
    with pytest.raises(ConnectionsConfigurationError, match=variable) as refused:
        tenant_conninfo(host="db.example", hostaddr="192.0.2.1", port=5432, dbname="w", user="r", password="",
                        sslmode="prefer", application_name="a", environ={variable: "x", "PATH": "/bin"})
    assert refused.value.status == 503 and refused.value.code == "configuration_error"


def test_every_libpq_parameter_with_an_environment_default_is_pinned():
    """Fails closed on a newer libpq: each parameter with an environment default has Atlas's value."""
    conninfo = tenant_conninfo(host="db.example", hostaddr="192.0.2.1", port=5432, dbname="w", user="r",
                               password="", sslmode="verify-full", application_name="a", environ={})
    from psycopg.conninfo import conninfo_to_dict

    given = conninfo_to_dict(conninfo)
    unpinned = [k for k, (envvar, _) in libpq_defaults().items() if envvar and k != "service" and k not in given]
    assert unpinned == []
    assert given["require_auth"] == "none" and given["sslcertmode"] == "disable" and given["gssencmode"] == "disable"
    assert given["sslrootcert"] == "system"  # verify-full: the system's roots, never a root.crt of Atlas's home


def test_a_tenant_server_asking_for_a_password_gets_none_of_atlas_s(fresh_db, tmp_path):
    """The attack end to end: `atlas serve` runs with a .pgpass (PGPASSFILE) and PGPASSWORD holding the
    app role's password; an org admin points a connection without a password at a server it controls
    and tests it. The server receives no password; the admin reads why. As the app role itself, the
    connection is refused by name before anything connects."""
    secret = "app-role-password-" + secrets.token_hex(8)
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:*:{secret}\n")
    passfile.chmod(0o600)
    with fake_postgres() as fake, atlas_serve(fresh_db, tmp_path / "serve.log", workers=1, threads=2, env={
            "PGPASSFILE": str(passfile), "PGPASSWORD": secret,
            "ATLAS_CONNECTION_KEYS": Fernet.generate_key().decode(),
            "ATLAS_CONNECTION_ALLOWED_HOSTS": f"127.0.0.1:{fake.port}"}) as served:
        token = owner_of_new_org(served.port, "tenant")
        url = f"postgresql://warehouse_reader@127.0.0.1:{fake.port}/warehouse"
        status, _, created = request(served.port, "POST", BASE, {"id": "mine", "url": url}, token)
        assert status == 201, created
        status, _, tested = request(served.port, "POST", f"{BASE}/mine/test", None, token)
        assert status == 200 and tested["ok"] is False
        assert "no password" in tested["error"] and secret not in json.dumps(tested)
        # The query path (a pool of its own, built after one probing connection) sends nothing either.
        entity = "table: stock\nconnection: mine\ndimensions:\n  - {name: sku, sql: sku, type: string}\n"
        status, _, answer = request(served.port, "PUT", "/api/v1/admin/semantic/org/entities/stock",
                                    {"yamlContent": entity}, token)
        assert status in (200, 201), answer
        status, _, answer = request(served.port, "POST", "/api/v1/query",
                                    {"sql": "SELECT sku FROM stock", "connectionId": "mine"}, token)
        assert status == 503 and answer["code"] == "connection_failed" and "no password" in answer["message"]
        app_role = fresh_db.roles.app
        status, _, refused = request(served.port, "POST", BASE, {
            "id": "as-app", "url": f"postgresql://{app_role}@127.0.0.1:{fake.port}/warehouse"}, token)
        assert status == 400 and "one of Atlas's own roles" in refused["message"]
        attempts = sent(fake)
    assert [a.startup.get("user") for a in attempts] == ["warehouse_reader", "warehouse_reader"]
    assert [a.password for a in attempts] == [None, None]
    assert secret not in (tmp_path / "serve.log").read_text()
