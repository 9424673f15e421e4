"""The admitted orgs, least recently used first, and what they reserve against the cap.

Pure bookkeeping with no I/O and no lock of its own: the registry calls it
under its lock, then opens or closes pools outside it.
"""
from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from itertools import count

from app.pools.metrics import Stats
from app.pools.units import Entry, Unit

log = logging.getLogger("atlas.pools")


class OrgLRU:
    """At most `max_orgs` entries; reserved connections never above `max_total`."""

    def __init__(self, *, max_orgs: int, max_total: int, base_reserved: int) -> None:
        self.max_orgs = max_orgs
        self.max_total = max_total
        self.entries: OrderedDict[uuid.UUID, Entry] = OrderedDict()
        self.retiring: list[Unit] = []  # evicted or drained, not yet closed: still reserved
        self.reserved = base_reserved
        self.evictions = 0
        self.units_created = 0
        self._generations = count(1)

    def lookup(self, org: uuid.UUID, datasource: str) -> Unit | None:
        """The org's unit for a datasource, marking the org most recently used."""
        entry = self.entries.get(org)
        unit = entry.units.get(datasource) if entry else None
        if unit is not None:
            self.entries.move_to_end(org)
        return unit

    def blocked(self, org: uuid.UUID, *, reserve: int) -> str | None:
        """The setting that forbids a new unit for this org right now, if any."""
        if org not in self.entries and len(self.entries) >= self.max_orgs:
            return "pool.perOrg.maxOrgs"
        if self.reserved + reserve > self.max_total:
            return "maxTotalConnections"
        return None

    def insert(self, org: uuid.UUID, datasource: str, stats: Stats, *, reserve: int, limit: int) -> Unit:
        """A new unit, held once by its creator, most recently used."""
        entry = self.entries.get(org)
        if entry is None:
            entry = self.entries[org] = Entry(org)
        unit = Unit(org, datasource, stats, reserved=reserve, generation=next(self._generations), limit=limit)
        unit.holders = 1
        entry.units[datasource] = unit
        self.reserved += reserve
        self.units_created += 1
        stats.pools_created += 1
        return unit

    def pick_victim(self, *, exclude: uuid.UUID) -> Entry | None:
        """The least recently used org with nothing in flight."""
        for entry in self.entries.values():
            if entry.org_id != exclude and entry.idle():
                return entry
        return None

    def evict(self, entry: Entry) -> None:
        """Take an idle org out; the caller disposes its units (they stay reserved until then)."""
        del self.entries[entry.org_id]
        self.evictions += 1
        for unit in entry.units.values():
            unit.retired = unit.disposed = True
            unit.stats.evictions += 1
            self.retiring.append(unit)
        log.info("evicted the pools of org %s (least recently used)", entry.org_id)

    def detach(self, unit: Unit) -> None:
        """Take a unit out of its org's entry (drained, or failed to open); no-op if already gone."""
        entry = self.entries.get(unit.org_id) if unit.org_id is not None else None
        if entry is not None and entry.units.get(unit.datasource) is unit:
            del entry.units[unit.datasource]
            if not entry.units:
                del self.entries[entry.org_id]

    def retire(self, unit: Unit) -> None:
        """Detach a unit and keep it reserved until it is disposed."""
        self.detach(unit)
        if not unit.retired:
            unit.retired = True
            self.retiring.append(unit)

    def free(self, unit: Unit) -> None:
        """A unit's connections are closed (or were never opened): release its reservation."""
        self.reserved -= unit.reserved
        if unit in self.retiring:
            self.retiring.remove(unit)

    def live_units(self) -> Iterator[Unit]:
        for entry in self.entries.values():
            yield from entry.units.values()
