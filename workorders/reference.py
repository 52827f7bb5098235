"""Reference data shipped with the project: regions and the product catalog."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import timedelta
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, Field, model_validator

from models.enums import ServiceType


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
    postcode_prefixes: list[str]
    vlan_range: tuple[int, int]
    installation_hours: float = Field(default=72, gt=0)
    """The time limit for an installation, from dispatch."""
    jeopardy_hours: float = Field(default=48, gt=0)
    """When an installation still open is marked in jeopardy."""
    test_servers: list[str]
    olts: list[Olt]
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
        # Longest prefix first, so "3031" beats "303".
        self._prefixes = sorted(
            ((p, r) for r in regions for p in r.postcode_prefixes),
            key=lambda pr: len(pr[0]),
            reverse=True,
        )

    def __iter__(self) -> Iterator[Region]:
        return iter(self._by_code.values())

    def get(self, code: str) -> Region:
        return self._by_code[code]

    def for_postcode(self, postcode: str) -> Region:
        """The region whose longest postcode prefix matches.

        Raises:
            UnknownRegion: no region covers the postcode.
        """
        code = postcode.strip()
        for prefix, region in self._prefixes:
            if code.startswith(prefix):
                return region
        raise UnknownRegion(f"no region covers postcode {postcode!r}")


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
def load_regions() -> Regions:
    data = _load("regions.toml")
    return Regions([Region.model_validate(r) for r in data["regions"]])


@cache
def load_catalog() -> Catalog:
    data = _load("catalog.toml")
    return Catalog(
        [Service.model_validate(s) for s in data["services"]],
        [Profile.model_validate(p) for p in data["profiles"]],
    )
