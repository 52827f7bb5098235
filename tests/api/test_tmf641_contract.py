"""The TMF641 interface against the official document (the contract's Swagger 2.0 in
``/work/shared/contracts``), not our own: schemathesis generates requests from it for
every operation we serve, the hub's included, sends them to the real API and checks
that no answer is a 5xx and each fits the document (status, body)."""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from tests.api.test_openapi import live_api
from tests.api.test_tmf641 import CONTRACT
from workorders.auth import Role, issue_token
from workorders.config import Settings

__all__ = ["live_api"]  # the fixture: the API and a worker on a real port

EXAMPLES = int(os.environ.get("WORKORDERS_SCHEMATHESIS_EXAMPLES", "25"))
SERVED = {
    ("POST", "/serviceOrder"),
    ("GET", "/serviceOrder"),
    ("GET", "/serviceOrder/{id}"),
    ("POST", "/cancelServiceOrder"),
    ("GET", "/cancelServiceOrder/{id}"),
    ("POST", "/hub"),
    ("DELETE", "/hub/{id}"),
}
"""The operations of the document this slice serves (docs/tmf641.md); the rest
(PATCH and DELETE of serviceOrder, the cancellations' list, the ``/listener/*`` that
a client implements) are not ours."""


def served_operations() -> list[Any]:
    schema = schemathesis.openapi.from_path(CONTRACT)
    found = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SERVED:
            found.append(operation)
    return found


def test_the_document_has_every_operation_we_serve() -> None:
    assert {(o.method.upper(), o.path) for o in served_operations()} == SERVED


@pytest.mark.parametrize("operation", served_operations(), ids=lambda o: o.label)
def test_every_answer_fits_the_official_document(
    live_api: tuple[str, Settings], operation: Any
) -> None:
    url, settings_ = live_api
    headers = {"Authorization": f"Bearer {issue_token(settings_, Role.OPERATIONS, 'fuzz')}"}
    base_url = f"{url}/tmf-api/serviceOrdering/v4"
    statuses: set[int] = set()

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: Any) -> None:
        response = case.call_and_validate(
            base_url=base_url,
            headers=headers,
            timeout=30,
            checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
        )
        statuses.add(response.status_code)

    check()
    assert statuses - {401, 403, 405}, statuses  # the requests reached the operation
