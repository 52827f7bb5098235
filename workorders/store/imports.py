"""Imports of the operator's regions, technicians and OLTs, each in one transaction (the
rules are :mod:`workorders.importing`'s)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, text, update

from workorders.db import Database
from workorders.importing import (
    ROW_MODELS,
    ImportKind,
    ImportRow,
    InvalidFile,
    OltRow,
    Plan,
    RegionRow,
    RowError,
    check_coverage,
    plan,
)
from workorders.store.base import TABLES, Store
from workorders.store.regions import RegionStore, users_of

_TABLE = {
    ImportKind.REGIONS: TABLES["region"],
    ImportKind.TECHNICIANS: TABLES["technician"],
    ImportKind.INVENTORY: TABLES["olt"],
}
REGION_IMPORT_LOCK = 0x726567696F6E
"""The PostgreSQL advisory lock under which one region import at a time checks and
changes the regions (two at once could each claim the same district)."""
_ALLOCATIONS = TABLES["resource_allocation"]
_HELD = _ALLOCATIONS.c


class LinesInUse(ValueError):
    """The import would change or remove an OLT under lines that use it; ``errors``
    names each OLT and what it carries."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


class RegionInUse(ValueError):
    """The import would remove a region that technicians, OLTs or open orders use;
    ``errors`` names each region and what uses it."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


class ImportStore(Store):
    """Regions, technicians and OLTs from the operator's files."""

    def __init__(self, db: Database, regions: RegionStore | None = None) -> None:
        super().__init__(db)
        self._regions = regions

    async def apply(
        self, kind: ImportKind, rows: Sequence[tuple[int, ImportRow]], *, dry_run: bool
    ) -> Plan:
        """What importing the validated ``rows`` (with their lines) changes, done unless
        ``dry_run``, in one transaction: everything or nothing.

        Raises:
            LinesInUse: an OLT would be removed, moved to another region, or shrunk
                below a terminal slot, port or VLAN that a line holds.
            RegionInUse: a region would be removed that technicians, OLTs or open
                orders use.
            InvalidFile: a row is inconsistent (:meth:`ImportRow.problems`), or a region
                would cover a district or postcode another covers.
        """
        wrong = [RowError(line, f, m) for line, row in rows for f, m in row.problems()]
        if wrong:  # validate() names these already; rows made otherwise are checked too
            raise InvalidFile(wrong)
        table = _TABLE[kind]
        fields = [name for name in ROW_MODELS[kind].model_fields if name in table.c]

        def work(connection: Connection) -> Plan:
            if kind is ImportKind.REGIONS and connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": REGION_IMPORT_LOCK}
                )
            ids = [row.id for _, row in rows]
            current = {
                r.id: dict(r._mapping)
                for r in connection.execute(
                    select(*(table.c[f] for f in fields)).where(table.c.id.in_(ids))
                )
            }
            result = plan(kind, [row for _, row in rows], current)
            if kind is ImportKind.INVENTORY:
                _check_lines(connection, result, {row.id: (line, row) for line, row in rows})
            if kind is ImportKind.REGIONS:
                _check_regions(connection, result, rows, [table.c[f] for f in fields])
            if dry_run or not result.changes_anything:
                return result
            by_id = {row.id: row for _, row in rows}
            added = [_values(kind, by_id[i]) for i in result.added]
            if added:
                connection.execute(insert(table), added)
            for change in result.changed:
                connection.execute(
                    update(table)
                    .where(table.c.id == change.id)
                    .values({name: after for name, (_, after) in change.fields.items()})
                )
            if result.removed:
                connection.execute(delete(table).where(table.c.id.in_(result.removed)))
            return result

        result = await self.db.transaction(work)
        changed_regions = kind is ImportKind.REGIONS and result.changes_anything and not dry_run
        if changed_regions and self._regions is not None:
            self._regions.forget()
        return result


def _values(kind: ImportKind, row: ImportRow) -> dict[str, Any]:
    values = row.model_dump(mode="json", exclude={"remove"})
    if kind is ImportKind.TECHNICIANS:
        values["open_jobs"] = 0
    return values


def _check_regions(
    connection: Connection,
    result: Plan,
    rows: Sequence[tuple[int, ImportRow]],
    columns: Sequence[Any],
) -> None:
    """Refuses regions that would overlap another's districts or postcodes, and the
    removal of a region still in use."""
    regions = [(line, row) for line, row in rows if isinstance(row, RegionRow)]
    every = {r.id: dict(r._mapping) for r in connection.execute(select(*columns))}
    overlaps = check_coverage(regions, every)
    if overlaps:
        raise InvalidFile(overlaps)
    if not result.removed:
        return
    uses = users_of(connection, result.removed)
    errors = [
        RowError(line, "remove", f"{row.id} is used by {'; '.join(uses[row.id])}: move them first")
        for line, row in regions
        if row.id in uses
    ]
    if errors:
        raise RegionInUse(errors)


def _check_lines(
    connection: Connection, result: Plan, rows: dict[str, tuple[int, ImportRow]]
) -> None:
    """Refuses OLT changes that would lose a line held on the OLT."""
    touched = [c.id for c in result.changed] + result.removed
    if not touched:
        return
    held = {
        olt_id: (count, ports, onts, low, high)
        for olt_id, count, ports, onts, low, high in connection.execute(
            select(
                _HELD.olt_id,
                func.count(),
                func.max(_HELD.pon_port),
                func.max(_HELD.ont_id),
                func.min(_HELD.vlan),
                func.max(_HELD.vlan),
            )
            .where(_HELD.olt_id.in_(touched))
            .group_by(_HELD.olt_id)
        )
    }
    errors: list[RowError] = []
    for olt_id in touched:
        if olt_id not in held:
            continue
        count, ports, onts, low, high = held[olt_id]
        line, row = rows[olt_id]
        assert isinstance(row, OltRow)
        lines = f"{olt_id} carries {count} line(s)"
        if row.remove:
            errors.append(RowError(line, "remove", f"{lines}; cancel or move them first"))
            continue
        checks = [
            ("region", row.region != _region(connection, olt_id), "in its region"),
            ("pon_ports", row.pon_ports < ports, f"up to PON port {ports}"),
            ("onts_per_port", row.onts_per_port < onts, f"up to terminal slot {onts}"),
            ("vlan_low", row.vlan_low > low, f"down to VLAN {low}"),
            ("vlan_high", row.vlan_high < high, f"up to VLAN {high}"),
        ]
        errors.extend(
            RowError(line, name, f"{lines} {where}; the change would lose them")
            for name, refused, where in checks
            if refused
        )
    if errors:
        raise LinesInUse(errors)


def _region(connection: Connection, olt_id: str) -> str:
    olt = TABLES["olt"]
    region: str = connection.execute(select(olt.c.region).where(olt.c.id == olt_id)).scalar_one()
    return region
