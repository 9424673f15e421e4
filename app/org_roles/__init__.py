"""Custom roles per org (Better Auth's dynamic access control): named sets of the matrix's cells.

`store` reads and writes the org_roles rows (sql/144_custom_roles.sql) and
holds the rules that keep a role within its creator's reach: every cell of a
role must be one its creator (or the member assigning it) holds. The check
itself lives beside the built-in roles' (app/permissions.py `allows`).
"""
