"""One org's data as a whole: restored to a point in time, exported, imported, deleted (docs/operations.md).

  tables.py   the org's tables from the catalog: placed tables (app/placement/tables.py) and control tables
  restore.py  `atlas org restore ORG --to-time T`: the org's rows from a scratch cluster at T, swapped in
  archive.py  `atlas org export` and `atlas org import`: a streamed tar with a manifest of counts and sha256
  deletion.py `atlas org delete`: marked, then purged after the grace period
"""
