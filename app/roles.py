"""The roles a member holds in an organization, lowest to highest (Better Auth's organization plugin).

A leaf module: request bodies, the OpenAPI document and the permission matrix
(app/permissions.py) all name the roles, and none of them should have to import
the others to do so.
"""
from __future__ import annotations

ROLES = ("member", "admin", "owner")


def outranks(role: str, other: str | None) -> bool:
    """True if `role` is above `other` in this order (a role that is not one counts as below every role).

    What a key or a job may do is capped by it: a key never acts above its creator's role
    (app/auth/api_keys.py), a job runs with the lower of its key's role and its creator's (app/jobs/queue.py).
    """
    return other not in ROLES or ROLES.index(role) > ROLES.index(str(other))
