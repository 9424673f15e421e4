"""Key rotation: `atlas connections rotate-key` moves every org's stored password to the newest key."""
from __future__ import annotations

import json

import psycopg
from cryptography.fernet import Fernet

from app.cli import main
from app.credentials import CredentialBox
from tests.support.api import close_app, make_app, two_org_world
from tests.support.datasource import external_datasource
from tests.support.placement import atlas

BASE = "/api/v1/admin/connections"


def tokens(admin_url: str) -> dict[str, str]:
    with psycopg.connect(admin_url) as conn:
        return dict(conn.execute("SELECT org_id::text || '/' || id, password_ciphertext FROM org_connections"))


def test_rotate_key_reencrypts_every_orgs_password_and_the_old_key_can_then_go(db_factory, monkeypatch, capsys):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with external_datasource(db_factory) as ds, two_org_world(db_factory, connection_keys=old,
                                                                connection_allowed_hosts=ds.allowed()) as world:
        for org in ("a", "b"):
            r = world.user(org, "owner").post(BASE, json={"id": f"wh-{org}", "url": ds.url()})
            assert r.status_code == 201
        before = tokens(world.db.admin_url)
        monkeypatch.setenv("DATABASE_URL", world.db.admin_url)
        monkeypatch.setenv("ATLAS_ROLE_PREFIX", world.db.roles.owner.removesuffix("_owner"))
        monkeypatch.setenv("ATLAS_CONNECTION_KEYS", f"{new},{old}")
        assert main(["connections", "rotate-key"]) == 0
        assert json.loads(capsys.readouterr().out) == {"orgs": 2, "connections": 2, "rotated": 2, "ssoProviders": 0, "ssoRotated": 0}
        after = tokens(world.db.admin_url)
        assert set(after) == set(before) and all(after[k] != before[k] for k in after)
        assert {CredentialBox([new]).decrypt(t) for t in after.values()} == {ds.password}
        assert main(["connections", "rotate-key"]) == 0  # again: nothing left to do
        assert json.loads(capsys.readouterr().out)["rotated"] == 0
        assert ds.password not in json.dumps(after)

        # A server that knows only the new key serves the rotated connections.
        app = make_app(world.db, connection_keys=new, connection_allowed_hosts=ds.allowed())
        try:
            token = world.user("a", "owner").token  # sessions live in the database: any server knows them
            r = app.test_client().post(f"{BASE}/wh-a/test", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200 and r.get_json()["ok"] is True, r.get_json()
        finally:
            close_app(app)


def test_rotate_key_without_the_old_key_refuses_and_changes_nothing(db_factory, monkeypatch, capsys):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with external_datasource(db_factory) as ds, two_org_world(db_factory, connection_keys=old,
                                                                connection_allowed_hosts=ds.allowed()) as world:
        assert world.user("a", "owner").post(BASE, json={"id": "wh", "url": ds.url()}).status_code == 201
        before = tokens(world.db.admin_url)
        monkeypatch.setenv("DATABASE_URL", world.db.admin_url)
        monkeypatch.setenv("ATLAS_ROLE_PREFIX", world.db.roles.owner.removesuffix("_owner"))
        monkeypatch.setenv("ATLAS_CONNECTION_KEYS", new)  # the old key dropped too early
        assert main(["connections", "rotate-key"]) == 1
        assert "ATLAS_CONNECTION_KEYS" in capsys.readouterr().err
        assert tokens(world.db.admin_url) == before


def test_rotate_key_reencrypts_the_passwords_of_an_org_in_a_dedicated_database(db_factory, monkeypatch, capsys):
    """An org's connections move with it (docs/placement.md): rotation rewrites them where the org lives."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    dedicated = db_factory.empty()
    try:
        with external_datasource(db_factory) as ds, two_org_world(db_factory, connection_keys=old,
                                                                    connection_allowed_hosts=ds.allowed()) as world:
            for org in ("a", "b"):
                r = world.user(org, "owner").post(BASE, json={"id": f"wh-{org}", "url": ds.url()})
                assert r.status_code == 201
            moved = atlas(world.db, "org", "move", "acme", "--to", dedicated.admin_url)
            assert moved.returncode == 0, moved.stdout + moved.stderr
            before = tokens(dedicated.admin_url)
            assert list(before) == [f"{world.org_a}/wh-a"]
            monkeypatch.setenv("DATABASE_URL", world.db.admin_url)
            monkeypatch.setenv("ATLAS_ROLE_PREFIX", world.db.roles.owner.removesuffix("_owner"))
            monkeypatch.setenv("ATLAS_CONNECTION_KEYS", f"{new},{old}")
            assert main(["connections", "rotate-key"]) == 0
            assert json.loads(capsys.readouterr().out) == {"orgs": 2, "connections": 2, "rotated": 2, "ssoProviders": 0, "ssoRotated": 0}
            after = tokens(dedicated.admin_url)
            assert after.keys() == before.keys() and CredentialBox([new]).decrypt(after[f"{world.org_a}/wh-a"]) \
                == ds.password
    finally:
        db_factory.drop(dedicated.name)
