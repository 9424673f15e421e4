"""The pieces under the connection API: the host allowlist (SSRF guard), the strict URL, the key ring."""
from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from app.config import split_commas
from app.connections.hosts import HostPolicy, parse_allowed
from app.connections.target import parse_url
from app.credentials import CredentialBox
from app.errors import ValidationError
from app.errors.configuration import ConfigurationError
from app.errors.query import ConnectionHostRefusedError


def policy(setting: str | None) -> HostPolicy:
    return HostPolicy(parse_allowed(split_commas(setting)))


def check(setting: str | None, host: str, port: int = 5432, dbname: str = "warehouse") -> str:
    return policy(setting).check(host, port, dbname)


def test_by_default_no_host_is_allowed_and_the_refusal_names_the_setting():
    """The attack: with the setting unset, an org admin points a connection at the database server's own
    host and port (the old default) to log in to its other databases. Nothing is allowed."""
    for setting in (None, "", " , "):
        for host, port, dbname in (("127.0.0.1", 5432, "template1"), ("127.0.0.1", 5432, "postgres"),
                                   ("127.0.0.1", 5432, "other_deployment"), ("localhost", 5432, "warehouse")):
            with pytest.raises(ConnectionHostRefusedError) as refused:
                check(setting, host, port, dbname)
            assert "ATLAS_CONNECTION_ALLOWED_HOSTS lists no host" in refused.value.message
            assert refused.value.details["fields"]["url"]


def test_only_listed_hosts_and_ports_are_allowed():
    assert check("127.0.0.1:5432", "127.0.0.1") == "127.0.0.1"
    for host, port in (("127.0.0.1", 6379), ("10.0.0.5", 5432), ("::1", 5432)):
        with pytest.raises(ConnectionHostRefusedError) as refused:
            check("127.0.0.1:5432", host, port)
        assert "ATLAS_CONNECTION_ALLOWED_HOSTS allows: 127.0.0.1:5432" in refused.value.message


@pytest.mark.parametrize("dbname", ["postgres", "template0", "template1"])
def test_maintenance_databases_are_refused_unless_an_entry_names_them(dbname):
    """The attack: a listed host and port, and the server's maintenance database on it."""
    for setting in ("127.0.0.1:5432", "127.0.0.0/8", "localhost", "127.0.0.1:5432/warehouse"):
        with pytest.raises(ConnectionHostRefusedError) as refused:
            check(setting, "127.0.0.1", 5432, dbname)
        assert "ATLAS_CONNECTION_ALLOWED_HOSTS" in refused.value.message
    with pytest.raises(ConnectionHostRefusedError, match="maintenance database"):
        check("127.0.0.1:5432", "localhost", 5432, dbname)
    assert check(f"127.0.0.1:5432/{dbname}", "127.0.0.1", 5432, dbname) == "127.0.0.1"
    assert check(f"localhost:5432/{dbname}", "localhost", 5432, dbname) == "127.0.0.1"


def test_an_entry_naming_a_database_allows_only_that_database():
    setting = "127.0.0.1:5432/warehouse, 10.0.0.0/24:6432/sales"
    assert check(setting, "127.0.0.1", 5432, "warehouse") == "127.0.0.1"
    assert check(setting, "10.0.0.7", 6432, "sales") == "10.0.0.7"
    for host, port, dbname in (("127.0.0.1", 5432, "other_deployment"), ("127.0.0.1", 5432, "Warehouse"),
                               ("10.0.0.7", 6432, "warehouse"), ("10.0.0.7", 5432, "sales")):
        with pytest.raises(ConnectionHostRefusedError) as refused:
            check(setting, host, port, dbname)
        assert "allows: 127.0.0.1:5432/warehouse, 10.0.0.0/24:6432/sales" in refused.value.message


@pytest.mark.parametrize(("entry", "described"), [
    ("db.example", "db.example"), ("db.example:6543", "db.example:6543"), ("db.example/sales", "db.example/sales"),
    ("db.example:6543/sales", "db.example:6543/sales"), ("10.1.0.0/24", "10.1.0.0/24"),
    ("10.1.0.0/24:5432/sales", "10.1.0.0/24:5432/sales"), ("10.1.0.9/sales", "10.1.0.9/sales"),
    ("[::1]:5432/sales", "[::1]:5432/sales"), ("fd00::/8", "fd00::/8"), ("::1", "::1"),
])
def test_allowlist_entries_read_host_port_and_database(entry, described):
    with pytest.raises(ConnectionHostRefusedError) as refused:
        check(entry, "192.0.2.1", 1, "nothing")
    assert refused.value.message.endswith(f"allows: {described}")


def test_a_name_is_resolved_and_every_address_it_resolves_to_is_checked():
    """localhost is not listed by name; it is allowed only because its address is."""
    assert check("127.0.0.0/8:5432", "localhost") == "127.0.0.1"
    with pytest.raises(ConnectionHostRefusedError) as refused:
        check("10.20.30.0/24", "localhost")
    assert "resolves to 127.0.0.1" in refused.value.message


def test_a_listed_name_allows_the_addresses_it_resolves_to():
    assert check("localhost:5432", "127.0.0.1") == "127.0.0.1"
    with pytest.raises(ConnectionHostRefusedError):
        check("localhost:5432", "127.0.0.1", 5433)


def test_a_name_that_does_not_resolve_is_refused_not_an_error():
    with pytest.raises(ConnectionHostRefusedError) as refused:
        check("127.0.0.1", "no-such-host.invalid")
    assert "does not resolve" in refused.value.message


def test_socket_paths_and_host_lists_are_refused():
    for host in ("/tmp", "127.0.0.1,10.0.0.1", ""):
        with pytest.raises(ConnectionHostRefusedError):
            check("127.0.0.1", host)


def test_a_malformed_allowlist_entry_is_a_configuration_error():
    for bad in ("db:notaport", "db.example/24", "db:5432/a/b", "10.0.0.1:99999", "[::1"):
        with pytest.raises(ConfigurationError, match="ATLAS_CONNECTION_ALLOWED_HOSTS"):
            parse_allowed(split_commas(bad))


def test_the_url_keeps_only_host_port_database_user_password_and_sslmode():
    target, password = parse_url("postgresql://ro:p%40ss@DB.example:6543/sales?sslmode=require")
    assert (target.host, target.port, target.dbname, target.username, target.sslmode) == (
        "db.example", 6543, "sales", "ro", "require")
    assert password == "p@ss"
    assert "p@ss" not in target.public_url() and "ss@" not in target.public_url()
    for bad in ("postgresql://ro@h/db?sslcert=/etc/ssl/key", "postgresql://h/db", "postgresql://ro@h/",
                "postgresql://ro@h/db?sslmode=bogus", "postgresql://ro@h:99999/db",
                "postgresql://ro@h/db?sslmode=verify-ca"):
        with pytest.raises(ValidationError):
            parse_url(bad)


def test_a_rotated_key_ring_reads_old_tokens_and_writes_under_the_newest_key():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = CredentialBox([old]).encrypt("s3cret")
    ring = CredentialBox(split_commas(f"{new}, {old}"))
    assert ring.decrypt(token) == "s3cret" and not ring.is_current(token)
    rotated = ring.rotate(token)
    assert ring.is_current(rotated) and CredentialBox([new]).decrypt(rotated) == "s3cret"
    with pytest.raises(ConfigurationError, match="ATLAS_CONNECTION_KEYS"):
        CredentialBox([new]).decrypt(token)  # the old key was dropped before rotating


def test_no_key_or_a_bad_key_is_a_configuration_error_naming_the_setting():
    with pytest.raises(ConfigurationError, match="ATLAS_CONNECTION_KEYS"):
        CredentialBox([]).encrypt("x")
    with pytest.raises(ConfigurationError, match="ATLAS_CONNECTION_KEYS"):
        CredentialBox(["not-a-key"])
