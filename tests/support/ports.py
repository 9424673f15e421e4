"""Moved to app/devdb/ports.py (the local-PostgreSQL toolkit, shared with the demo, the scripts and `make audit`);
re-exported here so tests import it as before."""
from app.devdb.ports import *  # noqa: F403
