"""Reference data shipped with the project: address formats, regions and the product
catalog."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from datetime import timedelta
from functools import cache
from importlib import resources
from typing import Any, Protocol

from pydantic import BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError

from models.enums import ServiceType

LEGACY_COUNTRY = "DE"
"""The country of the addresses taken before addresses had one (five-digit postcodes,
the Springfield regions); orders stored then are read as such."""

ADDRESS_FIELDS = (
    "province",
    "city",
    "district",
    "street",
    "house_number",
    "building",
    "unit",
    "room",
    "postcode",
)
"""The fields an address may have besides its country; its format says which."""

STORED_FIELDS = frozenset({"street", "house_number", "postcode", "city"})
"""The fields every order's row has (not null), so every format requires them."""


class AddressFormat(BaseModel):
    """How addresses are written in one country."""

    country: str = Field(pattern=r"^[A-Z]{2}$")
    name: str
    required: list[str]
    optional: list[str] = Field(default_factory=list)
    postcode_pattern: str
    postcode_example: str
    line: list[list[str]]
    word_separator: str = " "
    group_separator: str = ", "
    suffixes: dict[str, str] = Field(default_factory=dict)
    """Appended to a field written with digits only (CN: ``27`` → ``27号``)."""

    @model_validator(mode="after")
    def _consistent(self) -> AddressFormat:
        fields = [*self.required, *self.optional]
        unknown = sorted(set(fields) - set(ADDRESS_FIELDS))
        if unknown:
            raise ValueError(f"{self.country}: unknown address fields {unknown}")
        if len(fields) != len(set(fields)):
            raise ValueError(f"{self.country}: a field is both required and optional")
        if not set(self.required) >= STORED_FIELDS:
            raise ValueError(f"{self.country}: must require {sorted(STORED_FIELDS)}")
        outside = sorted({f for group in self.line for f in group} - set(fields))
        if outside:
            raise ValueError(f"{self.country}: line names fields it does not have: {outside}")
        if not self.postcode_ok(self.postcode_example):
            raise ValueError(f"{self.country}: postcode_example does not fit postcode_pattern")
        return self

    @property
    def fields(self) -> list[str]:
        return [*self.required, *self.optional]

    def postcode_ok(self, postcode: str) -> bool:
        return re.fullmatch(self.postcode_pattern, postcode) is not None

    def problem(self, field: str, value: str | None) -> PydanticCustomError | None:
        """What is wrong with one field of an address of this country, if anything: an
        error with its own type, so that each interface can say it in its language."""
        if value is None or value == "":
            if field in self.required:
                return PydanticCustomError(
                    "address_field_required",
                    "required in a {country} address",
                    {"country": self.country},
                )
            return None
        if field not in self.fields:
            return PydanticCustomError(
                "address_field_foreign",
                "not part of a {country} address (it has {fields})",
                {"country": self.country, "fields": ", ".join(self.fields)},
            )
        if field == "postcode" and not self.postcode_ok(value):
            return PydanticCustomError(
                "postcode_format",
                "a {country} postcode matches {pattern}, e.g. {example}",
                {
                    "country": self.country,
                    "pattern": self.postcode_pattern,
                    "example": self.postcode_example,
                },
            )
        return None

    def one_line(self, address: Mapping[str, str | None]) -> str:
        """The address on one line, in the country's order."""
        groups = []
        before: str | None = None
        for group in self.line:
            words = []
            for name in group:
                value = address.get(name)
                if not value or value == before:
                    continue
                before = value
                words.append(value + self.suffixes.get(name, "") if value.isdecimal() else value)
            if words:
                groups.append(self.word_separator.join(words))
        return self.group_separator.join(groups)


class UnknownCountry(LookupError):
    """No address format for the country: the operator does not serve it."""


class AddressFormats:
    """The address formats, by country."""

    def __init__(self, formats: list[AddressFormat]) -> None:
        self._by_country = {f.country: f for f in formats}

    def __contains__(self, country: object) -> bool:
        return country in self._by_country

    def countries(self) -> list[str]:
        return sorted(self._by_country)

    def get(self, country: str) -> AddressFormat:
        """Raises:
        UnknownCountry: no format for the country.
        """
        try:
            return self._by_country[country]
        except KeyError:
            raise UnknownCountry(
                f"no address format for country {country!r} (served: {', '.join(self.countries())})"
            ) from None


class Olt(BaseModel):
    """An optical line terminal: its PON ports, and how many customer terminals (ONTs)
    each port's splitters serve."""

    id: str
    pon_ports: int = Field(ge=1)
    onts_per_port: int = Field(default=64, ge=1, le=128)


class TechnicianSeed(BaseModel):
    id: str
    name: str
    skills: list[str]


class Region(BaseModel):
    code: str
    name: str
    country: str = Field(default=LEGACY_COUNTRY, pattern=r"^[A-Z]{2}$")
    province: str | None = None
    city: str | None = None
    districts: list[str] = Field(default_factory=list)
    """The administrative districts (of province and city) the region covers; an
    address with a district is placed by it, one without by its postcode."""
    postcode_prefixes: list[str]
    vlan_range: tuple[int, int]
    installation_hours: float = Field(default=72, gt=0)
    """The time limit for an installation, from dispatch."""
    jeopardy_hours: float = Field(default=48, gt=0)
    """When an installation still open is marked in jeopardy."""
    test_servers: list[str]
    olts: list[Olt] = Field(default_factory=list)
    """The shipped OLTs (the database's inventory holds the ones in use)."""
    technicians: list[TechnicianSeed] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sla(self) -> Region:
        if self.jeopardy_hours >= self.installation_hours:
            raise ValueError(f"{self.code}: jeopardy_hours must come before installation_hours")
        return self

    @property
    def installation_limit(self) -> timedelta:
        return timedelta(hours=self.installation_hours)

    @property
    def jeopardy_after(self) -> timedelta:
        return timedelta(hours=self.jeopardy_hours)


class Service(BaseModel):
    type: ServiceType
    name: str
    skill: str


class Profile(BaseModel):
    name: str
    service_type: ServiceType
    download_mbps: int
    upload_mbps: int
    nms_names: list[str]


class UnknownRegion(LookupError):
    """No region covers the address."""


class NoProfile(LookupError):
    """No profile of the service offers the bandwidth asked for."""


class Regions:
    """The service area: address to region."""

    def __init__(self, regions: list[Region]) -> None:
        self._by_code = {r.code: r for r in regions}
        self._by_district: dict[tuple[str, str | None, str | None, str], Region] = {}
        for r in regions:
            for district in r.districts:
                key = (r.country, r.province, r.city, district)
                if key in self._by_district:
                    other = self._by_district[key].code
                    raise ValueError(f"{other} and {r.code} share district {district!r}")
                self._by_district[key] = r
        # Longest prefix first, so "3031" beats "303".
        self._prefixes = sorted(
            ((p, r) for r in regions for p in r.postcode_prefixes),
            key=lambda pr: len(pr[0]),
            reverse=True,
        )

    def __iter__(self) -> Iterator[Region]:
        return iter(self._by_code.values())

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    async def current(self) -> Regions:
        """A fixed set of regions is its own source (:class:`RegionSource`)."""
        return self

    async def region(self, code: str) -> Region:
        return self.get(code)

    def get(self, code: str) -> Region:
        return self._by_code[code]

    def for_postcode(self, postcode: str, country: str | None = None) -> Region:
        """The region (of the country, if given) whose longest postcode prefix matches.

        Raises:
            UnknownRegion: no region covers the postcode.
        """
        code = postcode.strip()
        for prefix, region in self._prefixes:
            if code.startswith(prefix) and country in (None, region.country):
                return region
        where = f" in {country}" if country else ""
        raise UnknownRegion(f"no region covers postcode {postcode!r}{where}")

    def for_address(
        self,
        country: str,
        postcode: str,
        *,
        province: str | None = None,
        city: str | None = None,
        district: str | None = None,
    ) -> Region:
        """The region of an address: by its administrative district when it has one,
        else by its postcode. A district no region covers is not placed by its
        postcode, which may be shared with a neighbouring district.

        Raises:
            UnknownRegion: no region covers the district, or the postcode.
        """
        if not district:
            return self.for_postcode(postcode, country)
        found = self._by_district.get((country, province, city, district))
        if found is None:
            place = " ".join(p for p in (province, city) if p)
            raise UnknownRegion(f"no region covers district {district!r} of {place}, {country}")
        return found


class RegionSource(Protocol):
    """Where a process reads the regions: the database's, which an import changes
    (:class:`workorders.store.RegionStore`), or a fixed set (:class:`Regions`)."""

    async def current(self) -> Regions:
        """The regions as they stand now."""
        ...

    async def region(self, code: str) -> Region:
        """The region of this code (an order's), read again if not yet known.

        Raises:
            KeyError: no such region.
        """
        ...


class Catalog:
    """The products on sale."""

    def __init__(self, services: list[Service], profiles: list[Profile]) -> None:
        self.services = {s.type: s for s in services}
        self.profiles = {p.name: p for p in profiles}

    def skill_for(self, service_type: ServiceType) -> str:
        return self.services[service_type].skill

    def service_types_by_skill(self) -> dict[str, list[ServiceType]]:
        """Which services each installation skill is needed for."""
        by_skill: dict[str, list[ServiceType]] = {}
        for service in self.services.values():
            by_skill.setdefault(service.skill, []).append(service.type)
        return by_skill

    def profile_for(
        self, service_type: ServiceType, download_mbps: int, upload_mbps: int
    ) -> Profile:
        """The smallest profile of the service that offers at least the bandwidth asked.

        Raises:
            NoProfile: the service offers no such bandwidth.
        """
        fitting = [
            p
            for p in self.profiles.values()
            if p.service_type == service_type
            and p.download_mbps >= download_mbps
            and p.upload_mbps >= upload_mbps
        ]
        if not fitting:
            offered = [p for p in self.profiles.values() if p.service_type == service_type]
            if not offered:
                raise NoProfile(f"{service_type.value} is not on sale")
            best = max(offered, key=lambda p: p.download_mbps)
            raise NoProfile(
                f"{service_type.value} offers at most {best.download_mbps}/{best.upload_mbps} Mbps"
            )
        return min(fitting, key=lambda p: (p.download_mbps, p.upload_mbps))


def _load(name: str) -> dict[str, Any]:
    text = resources.files("workorders").joinpath("data", name).read_text(encoding="utf-8")
    return tomllib.loads(text)


@cache
def load_address_formats() -> AddressFormats:
    data = _load("address_formats.toml")
    return AddressFormats(
        [AddressFormat.model_validate({"country": c, **f}) for c, f in data["formats"].items()]
    )


@cache
def load_regions() -> Regions:
    """The shipped regions: what a new database is seeded with (the database's are
    the ones in use)."""
    data = _load("regions.toml")
    return Regions([Region.model_validate(r) for r in data["regions"]])


@cache
def load_catalog() -> Catalog:
    data = _load("catalog.toml")
    return Catalog(
        [Service.model_validate(s) for s in data["services"]],
        [Profile.model_validate(p) for p in data["profiles"]],
    )
