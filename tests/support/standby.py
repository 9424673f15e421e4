"""Moved to app/devdb/standby.py (the local-PostgreSQL toolkit, shared with the demo, the scripts and `make audit`);
re-exported here so tests import it as before."""
from app.devdb.standby import *  # noqa: F403
