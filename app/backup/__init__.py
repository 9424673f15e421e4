"""Continuous archiving and backups of every cluster Atlas uses, with pgBackRest (docs/operations.md).

One pgBackRest stanza per PostgreSQL cluster: the shared database's, and each
other cluster a dedicated database lives on. A stanza is named after the
cluster's system identifier (`atlas-<id>`), so whoever holds a connection to a
database can name the stanza that archives it.

  config.py     the settings (config file, repository, scratch directory, binaries)
  pgbackrest.py running pgbackrest (as the data directory's owner when root), its info
  clusters.py   the clusters behind the shared and dedicated databases, and their stanzas
  commands.py   setup, run, list and check over every cluster
  scratch.py    a backup restored to a scratch cluster at a time T, started, and removed
"""
