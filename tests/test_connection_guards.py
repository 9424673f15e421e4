"""The pieces under the connection API: the host allowlist (SSRF guard), the strict URL, the key ring."""
from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from app.connections.crypto import CredentialBox, parse_keys
from app.connections.hosts import HostPolicy, parse_allowed
from app.connections.target import parse_url
from app.errors import ConfigurationError, ConnectionHostRefusedError, ValidationError

DB = "postgresql://postgres@127.0.0.1:5432/atlas"


def policy(setting: str | None) -> HostPolicy:
    return HostPolicy(parse_allowed(setting, database_url=DB))


def test_by_default_only_the_databases_host_and_port_are_allowed():
    assert policy(None).check("127.0.0.1", 5432) == "127.0.0.1"
    for host, port in (("127.0.0.1", 6379), ("10.0.0.5", 5432), ("::1", 5432)):
        with pytest.raises(ConnectionHostRefusedError) as refused:
            policy(None).check(host, port)
        assert "ATLAS_CONNECTION_ALLOWED_HOSTS allows: 127.0.0.1:5432" in refused.value.message


def test_a_name_is_resolved_and_every_address_it_resolves_to_is_checked():
    """localhost is not listed by name; it is allowed only because its address is."""
    assert policy("127.0.0.0/8:5432").check("localhost", 5432) == "127.0.0.1"
    with pytest.raises(ConnectionHostRefusedError) as refused:
        policy("10.20.30.0/24").check("localhost", 5432)
    assert "resolves to 127.0.0.1" in refused.value.message


def test_a_listed_name_allows_the_addresses_it_resolves_to():
    assert policy("localhost:5432").check("127.0.0.1", 5432) == "127.0.0.1"
    with pytest.raises(ConnectionHostRefusedError):
        policy("localhost:5432").check("127.0.0.1", 5433)


def test_a_name_that_does_not_resolve_is_refused_not_an_error():
    with pytest.raises(ConnectionHostRefusedError) as refused:
        policy("127.0.0.1").check("no-such-host.invalid", 5432)
    assert "does not resolve" in refused.value.message


def test_socket_paths_and_host_lists_are_refused():
    for host in ("/tmp", "127.0.0.1,10.0.0.1", ""):
        with pytest.raises(ConnectionHostRefusedError):
            policy(None).check(host, 5432)


def test_a_malformed_allowlist_entry_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="ATLAS_CONNECTION_ALLOWED_HOSTS"):
        parse_allowed("db:notaport", database_url=DB)


def test_the_url_keeps_only_host_port_database_user_password_and_sslmode():
    target, password = parse_url("postgresql://ro:p%40ss@DB.example:6543/sales?sslmode=require")
    assert (target.host, target.port, target.dbname, target.username, target.sslmode) == (
        "db.example", 6543, "sales", "ro", "require")
    assert password == "p@ss"
    assert "p@ss" not in target.public_url() and "ss@" not in target.public_url()
    for bad in ("postgresql://ro@h/db?sslcert=/etc/ssl/key", "postgresql://h/db", "postgresql://ro@h/",
                "postgresql://ro@h/db?sslmode=bogus", "postgresql://ro@h:99999/db"):
        with pytest.raises(ValidationError):
            parse_url(bad)


def test_a_rotated_key_ring_reads_old_tokens_and_writes_under_the_newest_key():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = CredentialBox([old]).encrypt("s3cret")
    ring = CredentialBox(parse_keys(f"{new}, {old}"))
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
