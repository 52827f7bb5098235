"""Who may call what: every route by role (allowed, 401 without a token, 403 with the
wrong role), technicians limited to their own jobs, and the tokens themselves."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt
import pytest

from tests.api.conftest import System
from tests.api.test_orders import assigned, create, report
from tests.factories import order_request
from workorders.auth import Role, issue_token
from workorders.config import Settings

FD, TECH, OPS = Role.FRONT_DESK, Role.TECHNICIAN, Role.OPERATIONS
MISSING = "00000000-0000-0000-0000-000000000000"

# (method, path, body, roles allowed); a technician is never the one whose job it is
# here (see test_technicians_see_only_their_own_jobs for that).
MATRIX: list[tuple[str, str, dict[str, Any] | None, set[Role]]] = [
    ("POST", "/orders", {}, {FD, OPS}),
    ("GET", "/orders", None, {FD, OPS}),
    ("GET", f"/orders/{MISSING}", None, {FD, OPS}),
    ("GET", f"/orders/{MISSING}/history", None, {FD, OPS}),
    ("POST", f"/orders/{MISSING}/cancel", {"reason": "test"}, {FD, OPS}),
    ("POST", f"/orders/{MISSING}/construction/reports", {"state": "accepted"}, {OPS}),
    ("POST", f"/orders/{MISSING}/construction/operations", {}, {OPS}),
    ("POST", f"/orders/{MISSING}/activation/operations", {}, {OPS}),
    ("POST", f"/orders/{MISSING}/quality_check/operations", {}, {OPS}),
    ("GET", "/appointments/slots", None, {FD, OPS}),
    ("PUT", f"/orders/{MISSING}/appointment", {}, {FD, OPS}),
    ("DELETE", f"/orders/{MISSING}/appointment", None, {FD, OPS}),
    ("GET", f"/orders/{MISSING}/appointments", None, {FD, OPS}),
    ("GET", "/technicians", None, {OPS}),
    ("POST", "/technicians", {}, {OPS}),
    ("PATCH", "/technicians/nobody", {}, {OPS}),
    ("GET", "/technicians/nobody/jobs", None, {OPS}),
    ("GET", "/regions/north/inventory", None, {OPS}),
    ("POST", "/imports/technicians", {}, {OPS}),
    ("POST", "/codec/encode", {"payloads": []}, {OPS}),
    ("POST", "/codec/decode", {"payloads": []}, {OPS}),
    ("POST", "/tmf-api/serviceOrdering/v4/serviceOrder", {}, {FD, OPS}),
    ("GET", "/tmf-api/serviceOrdering/v4/serviceOrder", None, {FD, OPS}),
    ("GET", f"/tmf-api/serviceOrdering/v4/serviceOrder/{MISSING}", None, {FD, OPS}),
    ("POST", "/tmf-api/serviceOrdering/v4/cancelServiceOrder", {}, {FD, OPS}),
    ("GET", f"/tmf-api/serviceOrdering/v4/cancelServiceOrder/{MISSING}", None, {FD, OPS}),
    ("POST", "/tmf-api/serviceOrdering/v4/hub", {}, {FD, OPS}),
    ("DELETE", f"/tmf-api/serviceOrdering/v4/hub/{MISSING}", None, {FD, OPS}),
]
PUBLIC = [("GET", "/healthz"), ("GET", "/metrics")]


async def test_the_matrix_covers_every_operation(system: System) -> None:
    paths = (await system.http.get("/openapi.json")).json()["paths"]
    operations = {(method.upper(), path) for path, item in paths.items() for method in item}
    covered = {
        (
            method,
            path.replace(MISSING, "{order_id}")
            .replace("/nobody", "/{technician_id}")
            .replace("/north/", "/{region}/")
            .replace("/imports/technicians", "/imports/{kind}")
            .replace("/hub/{order_id}", "/hub/{listener_id}"),
        )
        for method, path, _, _ in MATRIX
    }
    assert operations == covered | {("GET", "/healthz")}  # /metrics is not in the document


@pytest.mark.parametrize(("method", "path", "body", "allowed"), MATRIX)
async def test_every_route_by_role(
    system: System, method: str, path: str, body: dict[str, Any] | None, allowed: set[Role]
) -> None:
    anonymous = await system.http.request(method, path, json=body, headers={"Authorization": ""})
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    # The TMF641 interface answers TMF Error bodies, the rest problem documents.
    tmf = path.startswith("/tmf-api/")
    expected = "application/json" if tmf else "application/problem+json"
    assert anonymous.headers["content-type"] == expected
    for role in Role:
        response = await system.http.request(
            method, path, json=body, headers=system.auth(role, "someone")
        )
        if role in allowed:
            assert response.status_code not in (401, 403), (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)
            assert response.json()["code"] == "FORBIDDEN"


@pytest.mark.parametrize(("method", "path"), PUBLIC)
async def test_health_and_metrics_need_no_token(system: System, method: str, path: str) -> None:
    response = await system.http.request(method, path, headers={"Authorization": ""})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        jwt.encode({"sub": "x", "role": "operations"}, "another-secret-of-32-characters!!"),
        "expired",
        "forged",
        "no-role",
    ],
)
async def test_tokens_not_issued_here_or_expired_are_401(system: System, token: str) -> None:
    settings = system.settings
    if token == "expired":
        token = issue_token(settings, OPS, "ops", ttl=timedelta(seconds=-1))
    elif token == "forged":
        other = Settings(_env_file=None, auth_secret="x" * 40)
        token = issue_token(other, OPS, "ops")
    elif token == "no-role":
        token = jwt.encode(
            {"sub": "ops", "aud": "workorders-api", "iss": "workorders", "exp": 4102444800},
            settings.auth_secret.get_secret_value(),
        )
    response = await system.http.get("/orders", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    assert "trace" not in response.text.lower()


async def test_technicians_see_only_their_own_jobs(system: System) -> None:
    order = await create(system)
    technician = await assigned(system, order["id"])
    other = "tech-someone-else"
    mine, theirs = system.auth(TECH, technician), system.auth(TECH, other)

    assert (await system.http.get(f"/orders/{order['id']}", headers=mine)).status_code == 200
    assert (await system.http.get(f"/orders/{order['id']}", headers=theirs)).status_code == 403
    jobs = await system.http.get(f"/technicians/{technician}/jobs", headers=mine)
    assert order["id"] in [j["order_id"] for j in jobs.json()]
    assert (
        await system.http.get(f"/technicians/{technician}/jobs", headers=theirs)
    ).status_code == 403

    # Another technician can neither report on this job nor report in its holder's name.
    path = f"/orders/{order['id']}/construction/reports"
    refused = await system.http.post(path, json={"state": "accepted"}, headers=theirs)
    assert refused.status_code == 403, refused.text
    posing = {"technician_id": technician, "state": "accepted"}
    assert (await system.http.post(path, json=posing, headers=theirs)).status_code == 403

    accepted = await system.http.post(path, json={"state": "accepted"}, headers=mine)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["state"] == "accepted"
    events = (await system.http.get(f"/orders/{order['id']}/history")).json()["events"]
    assert ("construction.accepted", f"technician:{technician}") in [
        (e["kind"], e["actor"]) for e in events
    ]
    # Operations report on a technician's behalf only by naming them.
    unnamed = await system.http.post(path, json={"state": "en_route"})
    assert unnamed.status_code == 422
    assert (await report(system, order["id"], technician, "en_route")).status_code == 200


async def test_the_timeline_names_who_created_the_order(system: System) -> None:
    response = await system.http.post(
        "/orders", json=order_request(), headers=system.auth(FD, "anna")
    )
    assert response.status_code == 201
    history = await system.http.get(
        f"/orders/{response.json()['id']}/history", headers=system.auth(FD, "anna")
    )
    received = history.json()["events"][0]
    assert (received["kind"], received["actor"]) == ("order.received", "front_desk:anna")
