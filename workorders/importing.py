"""The operator's own data in: technicians and the access network's OLTs from a CSV or
TOML file, checked in full before anything is written.

A file is read into rows (:func:`read_rows`), every row is validated into its model
(:func:`validate`), and the rows are compared with what the database holds
(:func:`plan`): what would be added, what changed (field by field) and what is the
same already. Nothing here writes; :class:`workorders.store.ImportStore` applies a
plan in one transaction, so a file with one bad row changes nothing, and the same file
twice changes nothing the second time. Rows not in the file are left as they are
(a technician leaves with ``active = false``; an OLT with ``remove = true``).
"""

from __future__ import annotations

import csv
import io
import tomllib
from abc import abstractmethod
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)

MAX_ROWS = 10_000
"""Rows per file: more is refused before any is validated."""


class ImportKind(StrEnum):
    TECHNICIANS = "technicians"
    INVENTORY = "inventory"


class FileFormat(StrEnum):
    CSV = "csv"
    TOML = "toml"


class ImportRow(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9-]*$")

    @abstractmethod
    def named_regions(self) -> tuple[str, list[str]]:
        """The field naming the row's regions, and the regions it names."""


class TechnicianRow(ImportRow):
    """A technician: who, in which regions, with which skills, how many open jobs."""

    name: str = Field(min_length=1, max_length=200)
    regions: list[str] = Field(min_length=1, max_length=20)
    skills: list[Literal["fibre", "copper"]] = Field(min_length=1)
    active: StrictBool = True
    max_open_jobs: StrictInt = Field(default=4, ge=1, le=50)

    def named_regions(self) -> tuple[str, list[str]]:
        return "regions", self.regions


class OltRow(ImportRow):
    """An OLT of a region: its PON ports, terminals per port and customer VLAN pool."""

    region: str = Field(min_length=1, max_length=50)
    pon_ports: StrictInt = Field(ge=1, le=128)
    onts_per_port: StrictInt = Field(default=64, ge=1, le=128)
    vlan_low: StrictInt = Field(ge=2, le=4094)
    vlan_high: StrictInt = Field(ge=2, le=4094)
    remove: StrictBool = False
    """Take the OLT out of the inventory (refused while it carries active lines)."""

    def named_regions(self) -> tuple[str, list[str]]:
        return "region", [self.region]

    @model_validator(mode="after")
    def _pool(self) -> Self:
        if self.vlan_high < self.vlan_low:
            raise ValueError("vlan_high must not be below vlan_low")
        return self


ROW_MODELS: dict[ImportKind, type[ImportRow]] = {
    ImportKind.TECHNICIANS: TechnicianRow,
    ImportKind.INVENTORY: OltRow,
}
LIST_FIELDS = {"regions", "skills"}
"""CSV cells holding lists, their items separated by ``;`` (or ``,`` in quotes)."""
TOML_TABLE: dict[ImportKind, str] = {
    ImportKind.TECHNICIANS: "technicians",
    ImportKind.INVENTORY: "olts",
}
"""The array of tables a TOML file holds its rows in (``[[technicians]]``, ``[[olts]]``)."""


@dataclass(frozen=True)
class RowError:
    """What is wrong with one row: ``line`` is the CSV line or the TOML table's number
    (from 1), ``field`` the column (``None``: the row or the file as a whole)."""

    line: int
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.field}" if self.field else "")
        return f"{where}: {self.message}"


class InvalidFile(ValueError):
    """The file cannot be imported; ``errors`` says every row and field at fault."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = list(errors)
        shown = "; ".join(str(e) for e in self.errors[:5])
        more = f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(f"{len(self.errors)} error(s): {shown}{more}")


def format_of(name: str) -> FileFormat:
    """The format a file's name (or a media type) says: ``.csv`` / ``text/csv`` or
    ``.toml`` / ``application/toml``.

    Raises:
        InvalidFile: neither.
    """
    lowered = name.lower().split(";")[0].strip()
    if lowered.endswith((".csv", "/csv")):
        return FileFormat.CSV
    if lowered.endswith((".toml", "/toml")):
        return FileFormat.TOML
    raise InvalidFile([RowError(0, None, f"{name!r} is neither CSV (.csv) nor TOML (.toml)")])


def read_rows(kind: ImportKind, fmt: FileFormat, text: str) -> list[tuple[int, dict[str, Any]]]:
    """The file's rows with their line numbers, as the file has them (not validated).

    Raises:
        InvalidFile: the file is not CSV / TOML, has no rows or too many.
    """
    rows = _csv_rows(text) if fmt is FileFormat.CSV else _toml_rows(kind, text)
    if not rows:
        raise InvalidFile([RowError(0, None, "the file has no rows")])
    if len(rows) > MAX_ROWS:
        raise InvalidFile([RowError(0, None, f"at most {MAX_ROWS} rows per file")])
    return rows


def _csv_rows(text: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), skipinitialspace=True)
    if not reader.fieldnames:
        raise InvalidFile([RowError(1, None, "the file has no header line")])
    header = [h.strip() for h in reader.fieldnames]
    if len(set(header)) != len(header) or "" in header:
        raise InvalidFile([RowError(1, None, "the header names a column twice or none")])
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        for raw in reader:
            line = reader.line_num
            if None in raw:
                raise InvalidFile([RowError(line, None, "more cells than the header has")])
            cells = {k.strip(): v for k, v in raw.items() if v is not None}
            if not any(v.strip() for v in cells.values()):
                continue  # a blank line
            rows.append((line, {k: _cell(k, v) for k, v in cells.items() if v.strip() != ""}))
    except csv.Error as e:
        raise InvalidFile([RowError(reader.line_num, None, f"not CSV: {e}")]) from None
    return rows


def _cell(name: str, value: str) -> Any:
    """A CSV cell as the value its column takes: lists split at ``;``, numbers and
    booleans read as such (a wrong one is left as text, for the model to refuse)."""
    value = value.strip()
    if name in LIST_FIELDS:
        return [item.strip() for item in value.replace(",", ";").split(";") if item.strip()]
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value.lstrip("-").isdecimal():
        return int(value)
    return value


def _toml_rows(kind: ImportKind, text: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InvalidFile([RowError(0, None, f"not TOML: {e}")]) from None
    table = TOML_TABLE[kind]
    unknown = sorted(set(data) - {table})
    if unknown:
        raise InvalidFile([RowError(0, None, f"unknown tables {unknown}; rows go in [[{table}]]")])
    rows = data.get(table, [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InvalidFile([RowError(0, table, f"must be an array of tables ([[{table}]])")])
    return [(number, row) for number, row in enumerate(rows, start=1)]


def validate(
    kind: ImportKind,
    rows: Sequence[tuple[int, Mapping[str, Any]]],
    *,
    regions: Collection[str],
) -> list[ImportRow]:
    """Every row as its model, in the file's order; ``regions``: the region codes a
    row may name.

    Raises:
        InvalidFile: with every error of every row (wrong fields, unknown regions,
            an id given twice).
    """
    model = ROW_MODELS[kind]
    errors: list[RowError] = []
    valid: list[ImportRow] = []
    first_line: dict[str, int] = {}
    for line, raw in rows:
        try:
            row = model.model_validate(raw)
        except ValidationError as e:
            for error in e.errors():
                where = ".".join(str(p) for p in error["loc"]) or None
                errors.append(RowError(line, where, error["msg"]))
            continue
        field_name, named = row.named_regions()
        errors.extend(
            RowError(line, field_name, f"unknown region {region!r}")
            for region in named
            if region not in regions
        )
        if row.id in first_line:
            errors.append(RowError(line, "id", f"{row.id!r} is on line {first_line[row.id]} too"))
        first_line.setdefault(row.id, line)
        valid.append(row)
    if errors:
        raise InvalidFile(errors)
    return valid


@dataclass
class Change:
    id: str
    fields: dict[str, tuple[Any, Any]]
    """Each changed field's value before and after."""


@dataclass
class Plan:
    """What an import does: rows added, changed, removed and left as they are."""

    kind: ImportKind
    added: list[str] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changes_anything(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def plan(
    kind: ImportKind, rows: Sequence[ImportRow], current: Mapping[str, Mapping[str, Any]]
) -> Plan:
    """What importing ``rows`` changes, given the ``current`` rows by id (each with
    the fields of its row model)."""
    result = Plan(kind)
    for row in rows:
        values = row.model_dump(exclude={"remove"})
        before = current.get(row.id)
        if getattr(row, "remove", False):
            (result.removed if before is not None else result.unchanged).append(row.id)
        elif before is None:
            result.added.append(row.id)
        else:
            diff = {k: (before[k], v) for k, v in values.items() if _differs(before[k], v)}
            if diff:
                result.changed.append(Change(row.id, diff))
            else:
                result.unchanged.append(row.id)
    return result


def _differs(before: Any, after: Any) -> bool:
    if isinstance(before, list) and isinstance(after, list):
        return sorted(before) != sorted(after)
    return bool(before != after)
