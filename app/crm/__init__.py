"""CRM rows: statements and write validation for the entities of app/entities.py (pages: app/paging.py)."""
