"""The local-PostgreSQL toolkit: which server a run uses and why, clusters of our own, migrated databases.

Used alike by `make demo` (scripts/demo_database.py), `make audit`, the benchmarks in scripts/ and the
tests (tests/support re-exports it); the running service never imports it.

- `choice`: the order of choice (configured, local, throwaway, embedded) and the binaries each needs;
- `server`: `find_or_start` (the shared server) and `Cluster` (a private one: start, stop, kill, remove);
- `databases`: `DatabaseFactory`, one migrated template per run and cheap clones of it, all dropped after;
- `standby`: a primary and its streaming hot standby;
- `audit`: scripts/audit_policies.sql run by the right psql, its findings parsed;
- `ports`: a free TCP port.
"""
