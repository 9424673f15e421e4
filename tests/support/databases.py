"""Moved to app/devdb/databases.py (the local-PostgreSQL toolkit, shared with the demo, the scripts and `make audit`);
re-exported here so tests import it as before."""
from app.devdb.databases import *  # noqa: F403
