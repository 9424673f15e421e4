"""create_app builds every long-lived service once, into one AtlasServices at one app.extensions key."""
from __future__ import annotations

import subprocess
import sys

import pytest
from flask import Flask

from app.http.context import services
from app.placement import PlacedSource
from app.services import AtlasServices


def test_every_service_lives_in_one_typed_state_at_one_key(api_app: Flask) -> None:
    assert set(api_app.extensions) == {"atlas"}
    state = services(api_app)
    assert isinstance(state, AtlasServices)
    with api_app.test_request_context():
        assert services() is state
    # the door is on the one pool registry (behind placement routing, app/placement);
    # the semantic layer and the query service use that door
    assert isinstance(state.db.source, PlacedSource) and state.db.source.shared is state.pools
    assert state.queries.placement is state.db.source
    assert state.semantic.database is state.db and state.queries.db is state.db


def test_requests_build_no_further_state(api_app: Flask) -> None:
    client = api_app.test_client()
    for path in ("/healthz", "/readyz", "/api/openapi.json", "/api/v1/contacts"):
        client.get(path)
    assert set(api_app.extensions) == {"atlas"}


@pytest.mark.parametrize("module", ["app", "app.cli", "app.services", "app.api", "app.query_service",
                                    "app.permissions", "app.bodies", "app.api.spec", "app.org_settings"])
def test_each_entry_point_imports_first_in_a_fresh_interpreter(module):
    """Import cycles show only in the order a process meets modules (atlas serve's workers start at create_app)."""
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
