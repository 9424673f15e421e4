"""Dedicated databases: where each org's tenant rows live, and moving an org between databases.

- `tables`: the placed tables (read from the catalog), their order, copies and checksums.
- `router`: the door's connection source that sends each org's transactions to its database.
- `mirror`: the control rows (org, members, their users) a dedicated database keeps for its keys.
- `move`: `atlas org move`, one resumable step at a time.
"""
from __future__ import annotations

from app.placement.locations import location_of, role_conninfo
from app.placement.router import PlacedSource, control_plane

__all__ = ["PlacedSource", "control_plane", "location_of", "role_conninfo"]
