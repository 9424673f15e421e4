"""Moved to app/devdb/server.py (the local-PostgreSQL toolkit, shared with the demo, the scripts and `make audit`);
re-exported here so tests import it as before."""
from app.devdb.server import *  # noqa: F403
