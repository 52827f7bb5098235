"""The operator's own data in: regions, technicians and the access network's OLTs from
a CSV or TOML file, checked in full before anything is written.

A file is read into rows (:func:`read_rows`), every row is validated into its model
(:func:`validate`), and the rows are compared with what the database holds
(:func:`plan`): what would be added, what changed (field by field) and what is the
same already. Nothing here writes; :class:`workorders.store.ImportStore` applies a
plan in one transaction, so a file with one bad row changes nothing, and the same file
twice changes nothing the second time. Rows not in the file are left as they are
(a technician leaves with ``active = false``; a region or an OLT with
``remove = true``).
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from abc import abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)

from workorders.appointments import WEEKDAYS, WorkingHours
from workorders.reference import load_address_formats

MAX_ROWS = 10_000
"""Rows per file: more is refused before any is validated."""


class ImportKind(StrEnum):
    REGIONS = "regions"
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

    def problems(self) -> list[tuple[str, str]]:
        """What is wrong across the row's fields, each as (field, message)."""
        return []


class TechnicianRow(ImportRow):
    """A technician: who, in which regions, with which skills, how many open jobs, and
    when they work (left out: Monday to Saturday, 08:00-18:00).

    In TOML the hours are a table, ``working_hours = { mon = ["08:00-12:00"],
    days_off = [2026-12-25] }``; in CSV a column per weekday (``mon`` to ``sun``, its
    stretches separated by ``;``) and ``days_off`` (dates separated by ``;``)."""

    name: str = Field(min_length=1, max_length=200)
    regions: list[str] = Field(min_length=1, max_length=20)
    skills: list[Literal["fibre", "copper"]] = Field(min_length=1)
    active: StrictBool = True
    max_open_jobs: StrictInt = Field(default=4, ge=1, le=50)
    working_hours: WorkingHours | None = None

    @model_validator(mode="before")
    @classmethod
    def _hours_in_columns(cls, data: Any) -> Any:
        """A CSV row's hour columns, gathered into its ``working_hours``."""
        if not isinstance(data, Mapping):
            return data
        columns = {k: v for k, v in data.items() if k in HOUR_COLUMNS}
        if not columns:
            return data
        if "working_hours" in data:
            raise ValueError("give working_hours or the weekday columns, not both")
        rest = {k: v for k, v in data.items() if k not in HOUR_COLUMNS}
        return {**rest, "working_hours": columns}

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


District = Annotated[str, Field(min_length=1, max_length=100)]
PostcodePrefix = Annotated[str, Field(pattern=r"^[0-9A-Z]{1,10}$")]
TestServer = Annotated[str, Field(min_length=1, max_length=100)]


class RegionRow(ImportRow):
    """A region: where it is (country, and for a country whose addresses have them,
    province and city), the administrative districts and the postcodes it covers, its
    installation time limits, its customer VLAN pool and its NMS test servers.

    An address with a district is placed by its district, one without by the longest
    postcode prefix that matches it (:class:`workorders.reference.Regions`).
    """

    name: str = Field(min_length=1, max_length=200)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    province: str | None = Field(default=None, min_length=1, max_length=100)
    city: str | None = Field(default=None, min_length=1, max_length=100)
    districts: list[District] = Field(default_factory=list, max_length=200)
    postcode_prefixes: list[PostcodePrefix] = Field(default_factory=list, max_length=500)
    vlan_low: StrictInt = Field(ge=2, le=4094)
    vlan_high: StrictInt = Field(ge=2, le=4094)
    installation_hours: float = Field(default=72, gt=0, le=24 * 365)
    jeopardy_hours: float = Field(default=48, gt=0, le=24 * 365)
    test_servers: list[TestServer] = Field(min_length=1, max_length=20)
    remove: StrictBool = False
    """Take the region out (refused while technicians, OLTs or open orders use it)."""

    def named_regions(self) -> tuple[str, list[str]]:
        return "id", []

    def problems(self) -> list[tuple[str, str]]:
        formats = load_address_formats()
        found: list[tuple[str, str]] = []
        if self.vlan_high < self.vlan_low:
            found.append(("vlan_high", "must not be below vlan_low"))
        if self.jeopardy_hours >= self.installation_hours:
            found.append(("jeopardy_hours", "must be less than installation_hours"))
        if not self.districts and not self.postcode_prefixes:
            found.append(("districts", "the region covers no district and no postcode prefix"))
        if self.country not in formats:
            found.append(("country", f"no address format for it (served: {formats.countries()})"))
            return found
        address = formats.get(self.country)
        if self.districts and "district" not in address.fields:
            found.append(("districts", f"a {self.country} address has no district"))
        elif self.districts:
            found.extend(
                (name, f"required with districts: a {self.country} address has a {name}")
                for name in ("province", "city")
                if name in address.required and getattr(self, name) is None
            )
        found.extend(
            (
                "postcode_prefixes",
                f"{prefix!r} begins no {self.country} postcode"
                f" (they match {address.postcode_pattern}, e.g. {address.postcode_example})",
            )
            for prefix in self.postcode_prefixes
            if not _begins_a_postcode(prefix, address.postcode_example, address.postcode_ok)
        )
        return found


def _begins_a_postcode(prefix: str, example: str, fits: Callable[[str], bool]) -> bool:
    """Whether ``prefix`` can begin a postcode: completed with the example's tail, it
    is one."""
    return len(prefix) <= len(example) and fits(prefix + example[len(prefix) :])


ROW_MODELS: dict[ImportKind, type[ImportRow]] = {
    ImportKind.REGIONS: RegionRow,
    ImportKind.TECHNICIANS: TechnicianRow,
    ImportKind.INVENTORY: OltRow,
}
HOUR_COLUMNS = {*WEEKDAYS, "days_off"}
"""A technician's CSV columns of working hours (:class:`TechnicianRow`)."""
LIST_FIELDS = {"regions", "skills", "districts", "postcode_prefixes", "test_servers", *HOUR_COLUMNS}
"""CSV cells holding lists, their items separated by ``;`` (or ``,`` in quotes)."""
TOML_TABLE: dict[ImportKind, str] = {
    ImportKind.REGIONS: "regions",
    ImportKind.TECHNICIANS: "technicians",
    ImportKind.INVENTORY: "olts",
}
"""The array of tables a TOML file holds its rows in (``[[regions]]``,
``[[technicians]]``, ``[[olts]]``)."""


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
    # newline="": the csv module reads line ends itself (a lone \r too), as its docs ask.
    source = io.StringIO(text.lstrip("\ufeff"), newline="")
    reader = csv.DictReader(source, skipinitialspace=True)
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        if not reader.fieldnames:
            raise InvalidFile([RowError(1, None, "the file has no header line")])
        header = [h.strip() for h in reader.fieldnames]
        if len(set(header)) != len(header) or "" in header:
            raise InvalidFile([RowError(1, None, "the header names a column twice or none")])
        for raw in reader:
            line = reader.line_num
            if None in raw:
                raise InvalidFile([RowError(line, None, "more cells than the header has")])
            cells = {k.strip(): v for k, v in raw.items() if v is not None}
            if not any(v.strip() for v in cells.values()):
                continue  # a blank line
            rows.append((line, {k: _cell(k, v) for k, v in cells.items() if v.strip() != ""}))
    except csv.Error as e:
        raise InvalidFile([RowError(max(reader.line_num, 1), None, f"not CSV: {e}")]) from None
    return rows


def _cell(name: str, value: str) -> Any:
    """A CSV cell as the value its column takes: lists split at ``;``, numbers (whole
    or with a decimal point) and booleans read as such (a wrong one is left as text,
    for the model to refuse)."""
    value = value.strip()
    if name in LIST_FIELDS:
        return [item.strip() for item in value.replace(",", ";").split(";") if item.strip()]
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value.lstrip("-").isdecimal():
        return int(value)
    if re.fullmatch(r"-?[0-9]+\.[0-9]+", value):
        return float(value)
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
                loc = error["loc"]
                if loc[:1] == ("working_hours",) and "working_hours" not in raw:
                    loc = loc[1:]  # a CSV row's hours are in columns of their own
                where = ".".join(str(p) for p in loc) or None
                errors.append(RowError(line, where, error["msg"]))
            continue
        errors.extend(RowError(line, name, message) for name, message in row.problems())
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


def check_coverage(
    rows: Sequence[tuple[int, RegionRow]], current: Mapping[str, Mapping[str, Any]]
) -> list[RowError]:
    """What the file's regions (with their lines) claim that another region claims too,
    once the file is applied over the ``current`` regions (all of them, by id, with
    the fields of :class:`RegionRow`): an administrative district (of the same country,
    province and city) of two regions, or a postcode prefix of one that is, begins or
    lies within a prefix of another in the same country. Either would leave an address
    with two regions."""
    in_file = {row.id for _, row in rows}
    districts: dict[tuple[str, str | None, str | None, str], tuple[str, int | None]] = {}
    prefixes: dict[str, list[tuple[str, str, int | None]]] = {}
    for code, region in current.items():
        if code in in_file:
            continue
        for district in region["districts"]:
            key = (region["country"], region["province"], region["city"], district)
            districts[key] = (code, None)
        for prefix in region["postcode_prefixes"]:
            prefixes.setdefault(region["country"], []).append((prefix, code, None))

    def where(code: str, line: int | None) -> str:
        return f"region {code} ({f'line {line}' if line else 'in the database'})"

    errors: list[RowError] = []
    for line, row in rows:
        if row.remove:
            continue
        for district in row.districts:
            key = (row.country, row.province, row.city, district)
            owner, at = districts.setdefault(key, (row.id, line))
            if owner != row.id:
                errors.append(
                    RowError(line, "districts", f"{district!r} is covered by {where(owner, at)}")
                )
        claimed = prefixes.setdefault(row.country, [])
        for prefix in row.postcode_prefixes:
            clash = next(
                (
                    (other, owner, at)
                    for other, owner, at in claimed
                    if owner != row.id and (prefix.startswith(other) or other.startswith(prefix))
                ),
                None,
            )
            if clash is None:
                claimed.append((prefix, row.id, line))
                continue
            other, owner, at = clash
            errors.append(
                RowError(
                    line,
                    "postcode_prefixes",
                    f"{prefix!r} overlaps {other!r} of {where(owner, at)}",
                )
            )
    return errors


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
        values = row.model_dump(mode="json", exclude={"remove"})  # as the database keeps it
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
