"""Moved to app/devdb/choice.py (the local-PostgreSQL toolkit, shared with the demo, the scripts and `make audit`);
re-exported here so tests import it as before."""
from app.devdb.choice import *  # noqa: F403
