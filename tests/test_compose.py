"""docker-compose.temporal.yml: Temporal on PostgreSQL with its Web UI, where the
settings' defaults expect them. Docker cannot run here, so the file is read, not run."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from workorders.config import Settings

COMPOSE_FILE = Path(__file__).resolve().parents[1] / "docker-compose.temporal.yml"
POSTGRES, TEMPORAL, UI = "postgresql", "temporal", "temporal-ui"
NAMESPACE_JOB = "temporal-namespace"
TEMPORAL_GRPC_PORT = 7233
"""The frontend's gRPC port inside the container (the server's default)."""
UI_PORT = 8080
"""The Web UI's port inside its container (the image's default)."""

Service = dict[str, Any]


@pytest.fixture(scope="module")
def services() -> dict[str, Service]:
    compose = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    found: dict[str, Service] = compose["services"]
    return found


@pytest.fixture
def defaults(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings' defaults, whatever the environment of the test run says."""
    for name in list(os.environ):
        if name.upper().startswith("WORKORDERS_"):
            monkeypatch.delenv(name)
    return Settings(_env_file=None)


def environment(service: Service) -> dict[str, str]:
    """A service's environment, written as a mapping or as a list of ``KEY=VALUE``."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def depends_on(service: Service) -> dict[str, str | None]:
    """The services a service depends on, with the condition it waits for."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps)
    return {name: (spec or {}).get("condition") for name, spec in deps.items()}


def published(service: Service, container_port: int) -> tuple[str, int]:
    """The host address and port a container port is published on.

    Raises:
        AssertionError: the port is not published, or published more than once.
    """
    found: list[tuple[str, int]] = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            if int(entry["target"]) == container_port and "published" in entry:
                found.append((entry.get("host_ip", ""), int(entry["published"])))
            continue
        parts = str(entry).split("/")[0].split(":")
        if len(parts) >= 2 and int(parts[-1]) == container_port:
            found.append((parts[-3] if len(parts) == 3 else "", int(parts[-2])))
    assert len(found) == 1, f"port {container_port} published {len(found)} times: {found}"
    return found[0]


def test_the_three_services_exist(services: dict[str, Service]) -> None:
    assert {POSTGRES, TEMPORAL, UI} <= services.keys()


def test_every_image_is_pinned(services: dict[str, Service]) -> None:
    unpinned = []
    for name, service in services.items():
        image = str(service.get("image", ""))
        if "@sha256:" in image:
            continue
        _, colon, tag = image.rpartition(":")
        if not colon or "/" in tag or tag in ("", "latest"):
            unpinned.append(f"{name}: {image!r}")
    assert not unpinned, f"images without a fixed tag: {unpinned}"


def test_temporal_is_published_where_the_settings_look(
    services: dict[str, Service], defaults: Settings
) -> None:
    host, _, port = defaults.temporal_address.rpartition(":")
    bound_ip, host_port = published(services[TEMPORAL], TEMPORAL_GRPC_PORT)
    assert host_port == int(port)
    assert bound_ip in ("", "0.0.0.0", host)


def test_the_ui_is_published_on_the_settings_port(
    services: dict[str, Service], defaults: Settings
) -> None:
    _, host_port = published(services[UI], UI_PORT)
    assert host_port == defaults.temporal_ui_port


def test_temporal_runs_on_the_postgres_service(services: dict[str, Service]) -> None:
    temporal, postgres = environment(services[TEMPORAL]), environment(services[POSTGRES])
    assert temporal["DB"] == "postgres12"
    assert temporal["POSTGRES_SEEDS"] == POSTGRES
    assert temporal.get("DB_PORT", "5432") == "5432"
    assert temporal["POSTGRES_USER"] == postgres["POSTGRES_USER"]
    assert temporal["POSTGRES_PWD"] == postgres["POSTGRES_PASSWORD"]
    assert depends_on(services[TEMPORAL])[POSTGRES] == "service_healthy"
    assert "healthcheck" in services[POSTGRES]


def test_temporal_schema_is_set_up_before_the_server_starts(
    services: dict[str, Service],
) -> None:
    waits_for = depends_on(services[TEMPORAL])
    jobs = [name for name, cond in waits_for.items() if cond == "service_completed_successfully"]
    assert len(jobs) == 1, f"expected one schema job, found {jobs}"
    schema, postgres = environment(services[jobs[0]]), environment(services[POSTGRES])
    assert schema["SQL_PLUGIN"] == environment(services[TEMPORAL])["DB"]
    assert schema["SQL_HOST"] == POSTGRES
    assert schema["SQL_USER"] == postgres["POSTGRES_USER"]
    assert schema["SQL_PASSWORD"] == postgres["POSTGRES_PASSWORD"]
    assert depends_on(services[jobs[0]])[POSTGRES] == "service_healthy"


def test_postgres_keeps_its_data_in_a_named_volume(services: dict[str, Service]) -> None:
    volumes = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8")).get("volumes") or {}
    mounts = [str(v).split(":") for v in services[POSTGRES].get("volumes") or []]
    assert any(
        len(m) >= 2 and m[0] in volumes and m[1] == "/var/lib/postgresql/data" for m in mounts
    ), mounts


def test_the_ui_points_at_the_temporal_service(services: dict[str, Service]) -> None:
    assert environment(services[UI])["TEMPORAL_ADDRESS"] == f"{TEMPORAL}:{TEMPORAL_GRPC_PORT}"
    assert TEMPORAL in depends_on(services[UI])


def test_the_settings_namespace_is_created(
    services: dict[str, Service], defaults: Settings
) -> None:
    job = environment(services[NAMESPACE_JOB])
    assert job["NAMESPACE"] == defaults.temporal_namespace
    assert job["TEMPORAL_ADDRESS"] == f"{TEMPORAL}:{TEMPORAL_GRPC_PORT}"
    assert depends_on(services[NAMESPACE_JOB])[TEMPORAL] == "service_healthy"


def test_the_documented_database_url_reaches_the_postgres_service(
    services: dict[str, Service],
) -> None:
    header = COMPOSE_FILE.read_text(encoding="utf-8")
    match = re.search(r"WORKORDERS_DATABASE_URL=(\S+)", header)
    assert match, "the header should say how to point the app at this PostgreSQL"
    url, postgres = make_url(match.group(1)), environment(services[POSTGRES])
    assert url.drivername == "postgresql+psycopg"
    assert url.username == postgres["POSTGRES_USER"]
    assert url.password == postgres["POSTGRES_PASSWORD"]
    assert url.database == postgres["POSTGRES_DB"]
    assert published(services[POSTGRES], 5432) == (url.host, url.port)
