"""The API against its own OpenAPI document: schemathesis sends generated requests, good
and bad, to every operation of the real API (served by ``workorders api`` with a worker
beside it) and checks that none gets a 5xx and that every answer fits the document;
then its command line runs every check it has (``--checks all``: every phase, the
coverage phase's 405s and missing headers too), as schemathesis.toml configures it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok
from temporalio.testing import WorkflowEnvironment

from bench.system import free_port
from workorders.auth import Role, issue_token
from workorders.config import Settings

BIN = Path(sys.executable).parent
EXAMPLES = int(os.environ.get("WORKORDERS_SCHEMATHESIS_EXAMPLES", "25"))
"""Generated requests per operation (positive and negative each)."""
ALL_CHECKS_EXAMPLES = int(os.environ.get("WORKORDERS_SCHEMATHESIS_ALL_EXAMPLES", "40"))
"""Generated requests per operation of the all-checks run (about a minute here)."""
ROOT = Path(__file__).resolve().parents[2]
"""The repository, where schemathesis.toml is."""


@pytest.fixture(scope="module")
def live_api(
    dev_server_env: WorkflowEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
    new_database_url: Callable[[], str],
) -> Iterator[tuple[str, Settings]]:
    """``workorders api`` and a worker on a real port, on the session's Temporal server."""
    data = tmp_path_factory.mktemp("schemathesis")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WORKORDERS_")}
    port = free_port()
    env = {
        **clean,
        "WORKORDERS_DATA_DIR": str(data),
        "WORKORDERS_DATABASE_URL": new_database_url(),
        "WORKORDERS_TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
        "WORKORDERS_TASK_QUEUE": f"schemathesis-{port}",
        "WORKORDERS_API_PORT": str(port),
        "WORKORDERS_WORKER_METRICS_PORT": "0",
        "WORKORDERS_TEMPORAL_METRICS_PORT": "0",
        "WORKORDERS_NMS_LATENCY_MIN_S": "0",
        "WORKORDERS_NMS_LATENCY_MAX_S": "0",
    }
    migrated = subprocess.run(
        [str(BIN / "workorders"), "migrate"], env=env, capture_output=True, check=False
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    logs = [data / "api.log", data / "worker.log"]
    commands = [[str(BIN / "workorders"), "api"], [sys.executable, "-m", "worker"]]
    children = []
    for command, log in zip(commands, logs, strict=True):
        with log.open("wb") as out:
            children.append(
                subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
            )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert all(c.poll() is None for c in children), [p.read_text() for p in logs]
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, [p.read_text() for p in logs]
            time.sleep(0.2)
        settings_ = Settings(_env_file=None, data_dir=data)  # the same (development) secrets
        yield url, settings_
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=30)


def operations(url: str) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    found = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document is valid OpenAPI
        found.append(result.ok())
    return found


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda m: m.value)
def test_no_5xx_and_every_answer_fits_the_document(
    live_api: tuple[str, Settings], mode: GenerationMode
) -> None:
    """Valid requests (positive) and invalid ones (negative) to every operation, as
    operations (who may call everything): no 5xx; status, content type and body as the
    document says."""
    url, settings_ = live_api
    headers = {"Authorization": f"Bearer {issue_token(settings_, Role.OPERATIONS, 'fuzz')}"}
    tried = 0
    for operation in operations(url):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            nonlocal tried
            tried += 1
            case.call_and_validate(
                base_url=url,
                headers=headers,
                timeout=30,
                checks=[
                    not_a_server_error,
                    status_code_conformance,
                    content_type_conformance,
                    response_schema_conformance,
                ],
            )

        try:
            check()
        except Unsatisfiable:
            # Nothing of this operation can be made invalid (no parameters, no body).
            assert mode is GenerationMode.NEGATIVE, operation.label
    assert tried >= EXAMPLES  # the document has operations, and they were called


def test_every_check_schemathesis_has_passes(
    live_api: tuple[str, Settings], tmp_path: Path
) -> None:
    """``schemathesis run --checks all`` as an operator would run it (README), with its
    configuration: zero failures, zero errors."""
    url, settings_ = live_api
    token = issue_token(settings_, Role.OPERATIONS, "probe")
    run = subprocess.run(
        [
            str(BIN / "schemathesis"),
            "--config-file",
            str(ROOT / "schemathesis.toml"),
            "run",
            f"{url}/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            str(ALL_CHECKS_EXAMPLES),
            "--seed",
            "1",
            "--workers",
            "1",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    summary = [line for line in run.stdout.splitlines() if "generated" in line or "==" in line]
    print("\n".join(summary))  # the figures, in the test's output
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
    assert "unique failures" not in run.stdout, run.stdout[-20_000:]
