"""One org's data as a whole: restored to a point in time, exported, imported, deleted (docs/operations.md).

  tables.py   the org's tables from the catalog: placed tables (app/placement/tables.py) and control tables
  restore.py  `atlas org restore ORG --to-time T`: the org's rows from a scratch cluster at T, swapped in
  archive.py   `atlas org export`: a streamed tar with a manifest of counts, sha256 and row checksums
  importing.py `atlas org import`: that archive checked, then written in one transaction, ids preserved
  deletion.py  `atlas org delete`: marked (reversible), then `atlas org purge` after the grace period
  caches.py    the org's Redis query-cache entries flushed;  operator.py: who ran the command (audit)
"""
