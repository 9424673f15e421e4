"""The roles a member holds in an organization, lowest to highest (Better Auth's organization plugin).

A leaf module: request bodies, the OpenAPI document and the permission matrix
(app/permissions.py) all name the roles, and none of them should have to import
the others to do so.
"""
from __future__ import annotations

ROLES = ("member", "admin", "owner")
