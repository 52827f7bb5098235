"""docker-compose.temporal.yml and the Dockerfile, checked against the project.

Temporal on PostgreSQL with its Web UI, where the settings' defaults expect them; the
project's API, workers and NMS simulator from one image, configured by settings that
exist, running commands that exist. Docker cannot run here, so the files are read, not
run; only the namespace job's script is run, against a Temporal dev server.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from sqlalchemy.engine import make_url

from api import create_app
from workflows.search_attributes import ALL
from workorders import cli
from workorders.config import Settings
from workorders.nms import controls

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.temporal.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
BIN = Path(sys.executable).parent
POSTGRES, TEMPORAL, UI = "postgresql", "temporal", "temporal-ui"
NAMESPACE_JOB = "temporal-namespace"
API, WORKER, NMS_SIM, MIGRATE = "api", "worker", "nms-sim", "migrate"
COMMANDS = {API: "api", WORKER: "worker", NMS_SIM: "nms-sim", MIGRATE: "migrate"}
"""The project's services and the ``workorders`` command each runs."""
TEMPORAL_GRPC_PORT = 7233
"""The frontend's gRPC port inside the container (the server's default)."""
UI_PORT = 8080
"""The Web UI's port inside its container (the image's default)."""
PREFIX = "WORKORDERS_"
CLI_TYPES = {
    "TEXT": "Text",
    "KEYWORD": "Keyword",
    "INT": "Int",
    "DOUBLE": "Double",
    "BOOL": "Bool",
    "DATETIME": "Datetime",
    "KEYWORD_LIST": "KeywordList",
}
"""The ``--type`` of ``temporal operator search-attribute create`` for each indexed
value type."""

Service = dict[str, Any]

# Compose's interpolation: $$ is a dollar sign; ${NAME:-default} and friends.
VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_]\w*))"
)


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """``value`` as Compose passes it on, the variables taken from ``env``.

    Raises:
        AssertionError: a variable without a default is unset, so the file would not
            work without a setting of its own.
    """
    if isinstance(value, str):

        def resolve(match: re.Match[str]) -> str:
            if match["escaped"]:
                return "$"
            name, op, arg = match["braced"] or match["named"], match["op"] or "", match["arg"]
            found = env.get(name)
            unset = found is None or (op.startswith(":") and not found)
            if unset and op.endswith("-"):
                return str(arg)
            assert not unset, f"${name} must be set ({arg or 'no default'})"
            return str(found)

        assert "$" not in VARIABLE.sub("", value), f"a $ Compose cannot read: {value!r}"
        return VARIABLE.sub(resolve, value)
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    return value


SECRETS = {
    "WORKORDERS_AUTH_SECRET": "a-production-secret-of-more-than-32-characters",
    "WORKORDERS_PAYLOAD_KEY": "cHJvZHVjdGlvbi1wYXlsb2FkLWtleS0zMi1ieXRlcyE=",
}
"""What an operator must set beside the compose file; nothing else."""


def load_compose(env: Mapping[str, str] = SECRETS) -> dict[str, Any]:
    """The compose file as Compose reads it with only the secrets set beside it."""
    compose: dict[str, Any] = interpolate(
        yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8")), env
    )
    return compose


@pytest.mark.parametrize("secret", list(SECRETS))
def test_compose_refuses_to_start_without_the_secrets(secret: str) -> None:
    with pytest.raises(AssertionError, match=secret):
        load_compose({k: v for k, v in SECRETS.items() if k != secret})


@pytest.fixture(scope="module")
def services() -> dict[str, Service]:
    found: dict[str, Service] = load_compose()["services"]
    return found


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No WORKORDERS_* variable of the test run's environment."""
    for name in list(os.environ):
        if name.upper().startswith(PREFIX):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def defaults(clean_env: pytest.MonkeyPatch) -> Settings:
    """The settings' defaults, whatever the environment of the test run says."""
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


def healthcheck(service: Service) -> str:
    """A service's health check command, as one string."""
    test = (service.get("healthcheck") or {}).get("test")
    assert test, "no health check"
    return test if isinstance(test, str) else " ".join(map(str, test))


def settings_of(service: Service, env: pytest.MonkeyPatch) -> Settings:
    """The settings a process of the service reads: its environment, and nothing else."""
    for name in list(os.environ):
        if name.upper().startswith(PREFIX):
            env.delenv(name)
    for key, value in environment(service).items():
        env.setenv(key, value)
    return Settings(_env_file=None)


# Temporal and PostgreSQL


def test_the_services_exist(services: dict[str, Service]) -> None:
    assert {POSTGRES, TEMPORAL, UI, NAMESPACE_JOB, *COMMANDS} <= services.keys()


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
    volumes = load_compose().get("volumes") or {}
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


# The custom search attributes


def expected_search_attributes() -> dict[str, str]:
    """workflows/search_attributes.ALL: each name with its CLI type."""
    return {key.name: CLI_TYPES[key.indexed_value_type.name] for key in ALL}


def registered_search_attributes(job: Service) -> dict[str, str]:
    """The NAME=TYPE pairs the namespace job registers."""
    pairs = [item.split("=", 1) for item in environment(job)["SEARCH_ATTRIBUTES"].split()]
    found = dict(pairs)
    assert len(found) == len(pairs), f"a name given twice: {pairs}"
    return found


def test_the_namespace_job_registers_exactly_the_search_attributes(
    services: dict[str, Service],
) -> None:
    job = services[NAMESPACE_JOB]
    assert registered_search_attributes(job) == expected_search_attributes()
    script = "\n".join(job["command"])
    assert "temporal operator search-attribute create" in script
    assert "$SEARCH_ATTRIBUTES" in script


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[str]:
    """A Temporal dev server of the test's own, without the search attributes."""
    address = f"127.0.0.1:{free_port()}"
    with (tmp_path / "temporal.log").open("wb") as log:
        server = subprocess.Popen(
            [
                str(BIN / "temporal"),
                *("server", "start-dev", "--headless", "--log-level", "error"),
                *("--ip", "127.0.0.1", "--port", address.rpartition(":")[2]),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield address
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.integration
def test_the_namespace_job_registers_them_and_can_run_again(
    services: dict[str, Service], dev_server: str
) -> None:
    """The job's script, run twice as the admin-tools container would run it: the
    namespace is new, and then everything exists already."""
    job = services[NAMESPACE_JOB]
    namespace = "compose-test"
    env = {
        **os.environ,
        **environment(job),
        "TEMPORAL_ADDRESS": dev_server,
        "NAMESPACE": namespace,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for run in ("first", "again"):
        result = subprocess.run(
            [*job["entrypoint"], *job["command"]],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert result.returncode == 0, f"{run}:\n{result.stdout}\n{result.stderr}"
    listed = subprocess.run(
        [
            str(BIN / "temporal"),
            *("operator", "search-attribute", "list", "--output", "json"),
            *("--address", dev_server, "--namespace", namespace),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    custom = json.loads(listed.stdout)["customAttributes"]
    assert custom == {key.name: f"INDEXED_VALUE_TYPE_{key.indexed_value_type.name}" for key in ALL}


# The project's services


def test_the_project_services_build_one_image_from_the_dockerfile(
    services: dict[str, Service],
) -> None:
    images = set()
    for name in COMMANDS:
        build = services[name].get("build")
        assert build, f"{name} is not built"
        context, dockerfile = (
            (build, "Dockerfile")
            if isinstance(build, str)
            else (build.get("context", "."), build.get("dockerfile", "Dockerfile"))
        )
        assert (COMPOSE_FILE.parent / context / dockerfile).resolve() == DOCKERFILE, name
        images.add(services[name].get("image"))
    assert len(images) == 1, f"one image for all of them: {images}"


def test_the_project_is_configured_only_by_settings_that_exist(
    services: dict[str, Service],
) -> None:
    fields = set(Settings.model_fields)
    for name, service in services.items():
        for key in environment(service):
            if name in COMMANDS:
                assert key.startswith(PREFIX), f"{name}: {key} is not a WORKORDERS_* setting"
            if key.upper().startswith(PREFIX):
                assert key[len(PREFIX) :].lower() in fields, f"{name}: {key} is no setting"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_settings_of_a_project_service_point_at_the_other_services(
    services: dict[str, Service], name: str, clean_env: pytest.MonkeyPatch
) -> None:
    settings = settings_of(services[name], clean_env)
    assert settings.environment == "production"
    url, postgres = make_url(settings.database_url), environment(services[POSTGRES])
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port or 5432) == (POSTGRES, 5432)
    assert url.username == postgres["POSTGRES_USER"]
    assert url.password == postgres["POSTGRES_PASSWORD"]
    assert url.database == postgres["POSTGRES_DB"]
    assert settings.temporal_address == f"{TEMPORAL}:{TEMPORAL_GRPC_PORT}"
    assert settings.temporal_namespace == environment(services[NAMESPACE_JOB])["NAMESPACE"]
    nms = settings_of(services[NMS_SIM], clean_env)
    assert settings.nms_url == f"http://{NMS_SIM}:{nms.nms_sim_port}"


def test_the_api_and_the_workers_share_the_task_queue(
    services: dict[str, Service], clean_env: pytest.MonkeyPatch
) -> None:
    api = settings_of(services[API], clean_env).task_queue
    assert settings_of(services[WORKER], clean_env).task_queue == api


@pytest.mark.parametrize(
    ("name", "host", "port", "default"),
    [(API, "api_host", "api_port", 8000), (NMS_SIM, "nms_sim_host", "nms_sim_port", 8700)],
)
def test_the_http_services_are_published_on_the_default_ports(
    services: dict[str, Service],
    clean_env: pytest.MonkeyPatch,
    name: str,
    host: str,
    port: str,
    default: int,
) -> None:
    defaults = Settings(_env_file=None)
    settings = settings_of(services[name], clean_env)
    assert getattr(settings, host) == "0.0.0.0", "listen beyond the container"
    _, host_port = published(services[name], getattr(settings, port))
    assert host_port == getattr(defaults, port) == default


def test_the_api_health_check_asks_the_api(
    services: dict[str, Service], clean_env: pytest.MonkeyPatch
) -> None:
    settings = settings_of(services[API], clean_env)
    assert "/healthz" in create_app(settings).openapi()["paths"]
    assert f"127.0.0.1:{settings.api_port}/healthz" in healthcheck(services[API])


def test_the_nms_simulator_health_check_asks_the_simulator(
    services: dict[str, Service], clean_env: pytest.MonkeyPatch
) -> None:
    settings = settings_of(services[NMS_SIM], clean_env)
    check = healthcheck(services[NMS_SIM])
    paths = [path for route in controls.router.routes if (path := getattr(route, "path", ""))]
    assert any(f"127.0.0.1:{settings.nms_sim_port}{path}" in check for path in paths), check


def test_the_worker_health_check_uses_the_worker_settings(services: dict[str, Service]) -> None:
    check, env = healthcheck(services[WORKER]), environment(services[WORKER])
    assert "task-queue describe" in check
    used = set(re.findall(r"\$\{?(WORKORDERS_\w+)", check))
    assert {"WORKORDERS_TEMPORAL_ADDRESS", "WORKORDERS_TASK_QUEUE"} <= used
    assert used <= env.keys(), f"not set for the worker: {used - env.keys()}"


def test_the_project_services_wait_for_what_they_use(services: dict[str, Service]) -> None:
    ready = {
        POSTGRES: "service_healthy",
        NAMESPACE_JOB: "service_completed_successfully",
        MIGRATE: "service_completed_successfully",
    }
    assert depends_on(services[API]) == ready
    assert depends_on(services[WORKER]) == {**ready, NMS_SIM: "service_healthy"}


def test_the_schema_is_migrated_once_before_the_api_and_the_workers(
    services: dict[str, Service],
) -> None:
    job = services[MIGRATE]
    assert depends_on(job) == {POSTGRES: "service_healthy"}
    assert entrypoint(job)[1:] == ["migrate"]
    assert str(job.get("restart", "no")) == "no", "a one-shot job, not restarted"
    assert not job.get("ports")
    assert int((job.get("deploy") or {}).get("replicas", 1)) == 1
    assert "healthcheck" not in job, "the others wait for it to complete, not to be healthy"
    for name in (API, WORKER):
        assert depends_on(services[name])[MIGRATE] == "service_completed_successfully"


def test_the_workers_can_be_scaled(services: dict[str, Service]) -> None:
    worker = services[WORKER]
    assert "container_name" not in worker
    assert not worker.get("ports"), "replicas cannot share a published port"
    assert int((worker.get("deploy") or {}).get("replicas", 1)) >= 2


def test_the_nms_simulator_keeps_its_state_in_a_volume(
    services: dict[str, Service], clean_env: pytest.MonkeyPatch
) -> None:
    volumes = load_compose().get("volumes") or {}
    data_dir = settings_of(services[NMS_SIM], clean_env).data_dir
    mounts = [str(v).split(":") for v in services[NMS_SIM].get("volumes") or []]
    assert any(m[0] in volumes and Path(m[1]) == data_dir for m in mounts if len(m) >= 2)


# The image


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, as (INSTRUCTION, arguments), lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += stripped.removesuffix("\\").strip() + " "
        if not stripped.endswith("\\"):
            keyword, _, args = pending.strip().partition(" ")
            instructions.append((keyword.upper(), args.strip()))
            pending = ""
    assert not pending, "the Dockerfile ends in a continued line"
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile()
    start = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[start:]


def entrypoint(service: Service) -> list[str]:
    """What a container of the service runs: its entrypoint and command."""
    entry = service.get("entrypoint")
    if entry is None:
        found = [args for keyword, args in final_stage() if keyword == "ENTRYPOINT"]
        args = found[-1] if found else ""
        entry = json.loads(args) if args.startswith("[") else shlex.split(args)
    command = service.get("command") or []
    entry = shlex.split(entry) if isinstance(entry, str) else entry
    command = shlex.split(command) if isinstance(command, str) else command
    return [*entry, *command]


@pytest.mark.parametrize(("name", "command"), COMMANDS.items())
def test_the_project_services_run_workorders_commands(
    services: dict[str, Service], pyproject: dict[str, Any], name: str, command: str
) -> None:
    argv = entrypoint(services[name])
    assert argv[:2] == ["workorders", command], argv
    assert argv[0] in pyproject["project"]["scripts"]
    group = typer.main.get_command(cli.app)
    commands: dict[str, Any] = getattr(group, "commands", {})
    assert command in commands, f"no `workorders {command}`: {sorted(commands)}"
    commands[command].make_context(command, argv[2:])  # its options parse


def version(text: str) -> tuple[int, ...]:
    match = re.match(r"\d+(\.\d+)*", text)
    assert match, f"no version in {text!r}"
    return tuple(int(part) for part in match.group().split("."))


def test_every_base_image_is_pinned_to_the_project_python(pyproject: dict[str, Any]) -> None:
    froms = [args.split() for keyword, args in dockerfile() if keyword == "FROM"]
    stages = {words[2] for words in froms if len(words) == 3 and words[1].upper() == "AS"}
    minimum = version(pyproject["project"]["requires-python"].removeprefix(">="))
    for base in (words[0] for words in froms if words[0] not in stages):
        name, _, tag = base.partition(":")
        assert tag and tag != "latest", f"{base} is not pinned"
        if name == "python":
            assert version(tag)[:2] >= minimum[:2], f"{base}: the project needs {minimum}"
    assert froms[-1][0].startswith("python:"), "the image runs on the official Python image"


def test_the_image_installs_the_package_without_its_dev_dependencies() -> None:
    instructions = dockerfile()
    copies = [
        [word for word in args.split() if not word.startswith("--")]
        for keyword, args in instructions
        if keyword == "COPY" and "--from=" not in args
    ]
    copied = {words[-1].rstrip("/") for words in copies if words[:-1] == ["."]}
    installs = [
        shlex.split(args)
        for keyword, args in instructions
        if keyword == "RUN" and "pip install" in args
    ]
    assert installs, "nothing is installed"
    for argv in installs:
        targets = [a for a in argv[argv.index("install") + 1 :] if not a.startswith("-")]
        assert targets, argv
        assert all(target.rstrip("/") in copied | {"."} for target in targets), (argv, copied)
        assert not {"-e", "--editable"} & set(argv), "an editable install needs the sources"
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "[dev]" not in text, "the dev extras have no place in the image"


def test_the_image_runs_as_a_user_without_privileges() -> None:
    users = [args for keyword, args in final_stage() if keyword == "USER"]
    assert users, "the image runs as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), users[-1]


def test_the_build_context_keeps_out_secrets_and_local_state(pyproject: dict[str, Any]) -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not [p for p in patterns if p.startswith("!")], "exceptions are not checked here"

    def ignored(path: str) -> bool:
        return any(fnmatch(path, p.removeprefix("/").rstrip("/")) for p in patterns)

    for kept_out in (".env", ".git", ".venv", "data"):
        assert ignored(kept_out), f"{kept_out} would go into the build context"
    setuptools = pyproject["tool"]["setuptools"]
    needed = [
        "pyproject.toml",
        pyproject["project"]["readme"],
        *(f"{module}.py" for module in setuptools.get("py-modules", [])),
        *(p.rstrip("*") for p in setuptools["packages"]["find"]["include"]),
    ]
    assert not [path for path in needed if ignored(path)], "the package build needs these"
