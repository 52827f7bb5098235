"""The orders API, end to end on a real Temporal dev server."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus

from tests.api.conftest import System
from tests.factories import activations, order_request


async def create(system: System, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await system.http.post("/orders", json=body or order_request())
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


async def wait_for(
    system: System, order_id: str, predicate: Any, timeout_s: float = 30
) -> dict[str, Any]:
    order: dict[str, Any] = {}
    for _ in range(int(timeout_s / 0.1)):
        order = (await system.http.get(f"/orders/{order_id}")).json()
        if predicate(order):
            return order
        await asyncio.sleep(0.1)
    raise AssertionError(f"order never got there: {order}")


def construction(order: dict[str, Any]) -> dict[str, Any]:
    return next((t for t in order.get("sub_tasks", []) if t["kind"] == "construction"), {})


async def assigned(system: System, order_id: str) -> str:
    order = await wait_for(system, order_id, lambda o: construction(o).get("technician_id"))
    technician: str = construction(order)["technician_id"]
    return technician


async def report(system: System, order_id: str, technician: str, state: str, **extra: Any) -> Any:
    return await system.http.post(
        f"/orders/{order_id}/construction/reports",
        json={"technician_id": technician, "state": state, **extra},
    )


async def test_order_lifecycle_to_completed(system: System) -> None:
    order = await create(system)
    assert order["status"] in ("received", "in_progress")
    assert order["region"] == "north"
    assert order["profile"] == "FTTH_300_100"
    technician = await assigned(system, order["id"])

    jobs = (await system.http.get(f"/technicians/{technician}/jobs")).json()
    assert order["id"] in [j["order_id"] for j in jobs]

    for state in ("accepted", "en_route", "on_site"):
        response = await report(system, order["id"], technician, state)
        assert response.status_code == 200, response.text
        assert response.json()["state"] == state
    response = await report(system, order["id"], technician, "completed", ont_serial="HWTC1A2B3C4D")
    assert response.status_code == 200, response.text

    done = await wait_for(system, order["id"], lambda o: o["status"] == "completed")
    assert {t["kind"]: t["status"] for t in done["sub_tasks"]} == {
        "construction": "succeeded",
        "activation": "succeeded",
        "quality_check": "succeeded",
    }
    activation = next(t for t in done["sub_tasks"] if t["kind"] == "activation")
    assert {"olt_id", "pon_port", "vlan", "nms_profile_name"} <= set(activation["data"])
    quality = next(t for t in done["sub_tasks"] if t["kind"] == "quality_check")
    assert quality["result"]["measures"]["download_mbps"] >= 270
    assert done["completed_at"] is not None
    assert activations(system.nms, order["id"]) == 1

    history = (await system.http.get(f"/orders/{order['id']}/history")).json()
    kinds = [e["kind"] for e in history["events"]]
    assert kinds[0] == "order.received"
    assert kinds[-1] == "order.completed"
    assert "construction.completed" in kinds
    assert {a["kind"] for a in history["attempts"]} == {"activation", "quality_check"}

    handle = system.temporal.get_workflow_handle(done["workflow_id"])
    assert (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED


async def test_same_external_reference_returns_the_same_order(system: System) -> None:
    body = order_request()
    first = await create(system, body)
    again = await system.http.post("/orders", json=body)
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert again.headers["location"] == f"/orders/{first['id']}"
    ids = [
        w.id async for w in system.temporal.list_workflows(f"WorkflowId = '{first['workflow_id']}'")
    ]
    assert len(ids) == 1


async def test_concurrent_creates_with_one_reference_make_one_order(system: System) -> None:
    body = order_request()
    replies = await asyncio.gather(*(system.http.post("/orders", json=body) for _ in range(10)))
    assert sorted(r.status_code for r in replies) == [200] * 9 + [201]
    assert len({r.json()["id"] for r in replies}) == 1


async def test_fifty_concurrent_creates_with_one_idempotency_key_make_one_order(
    system: System,
) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = order_request()
    replies = await asyncio.gather(
        *(system.http.post("/orders", json=body, headers=key) for _ in range(50))
    )
    assert sorted(r.status_code for r in replies) == [200] * 49 + [201], [
        r.text for r in replies if r.status_code not in (200, 201)
    ]
    order_ids = {r.json()["id"] for r in replies}
    assert len(order_ids) == 1
    (order_id,) = order_ids
    page = (await system.http.get("/orders", params={"limit": 500})).json()
    assert [o["id"] for o in page["items"]].count(order_id) == 1
    workflows = [
        w.id async for w in system.temporal.list_workflows(f"WorkflowId = 'work-order-{order_id}'")
    ]
    assert len(workflows) == 1


async def test_an_idempotency_key_returns_its_order_and_refuses_other_details(
    system: System,
) -> None:
    key = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    body = order_request()
    first = await system.http.post("/orders", json=body, headers=key)
    assert first.status_code == 201
    # A repeat with a new external reference but the same key: still the first order,
    # since the key identifies the request, as long as the details are the same.
    again = await system.http.post("/orders", json=body, headers=key)
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    changed = {**body, "external_reference": f"other-{uuid.uuid4().hex[:8]}"}
    conflict = await system.http.post("/orders", json=changed, headers=key)
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "IDEMPOTENCY_KEY_CONFLICT"
    assert (await system.http.get("/orders", params={"limit": 500})).json()["total"] >= 1
    bad = await system.http.post(
        "/orders", json=order_request(), headers={"Idempotency-Key": "has spaces"}
    )
    assert bad.status_code == 422


async def test_same_reference_with_other_details_is_a_conflict(system: System) -> None:
    body = order_request()
    await create(system, body)
    body["demand"]["download_mbps"] = 100
    response = await system.http.post("/orders", json=body)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "EXTERNAL_REFERENCE_CONFLICT"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["customer"].update(phone="call me"), "phone"),
        (lambda b: b["customer"].update(email="not-an-email"), "email"),
        (lambda b: b["address"].update(postcode="1"), "postcode"),
        (lambda b: b["demand"].update(download_mbps=0), "download_mbps"),
        (lambda b: b["demand"].update(service_type="DIALUP"), "service_type"),
        (
            lambda b: b["demand"].update(
                installation_window={"start": "2026-12-02T10:00:00Z", "end": "2026-12-01T10:00:00Z"}
            ),
            "installation_window",
        ),
        (lambda b: b.update(external_reference="has spaces"), "external_reference"),
        (lambda b: b.update(surprise=1), "surprise"),
        (lambda b: b.pop("customer"), "customer"),
    ],
)
async def test_invalid_orders_get_422_and_store_nothing(
    system: System, change: Any, field: str
) -> None:
    body = order_request()
    change(body)
    response = await system.http.post("/orders", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["status"] == 422
    assert any(field in [str(p) for p in e["location"]] for e in problem["errors"]), problem
    listed = (await system.http.get("/orders", params={"limit": 500})).json()["items"]
    assert body.get("external_reference") not in [o["external_reference"] for o in listed]


@pytest.mark.parametrize(
    ("change", "detail", "code"),
    [
        (
            lambda b: b["address"].update(postcode="99999"),
            "no region covers postcode",
            "ADDRESS_NOT_COVERED",
        ),
        (
            lambda b: b["demand"].update(download_mbps=5000),
            "FTTH offers at most 1000/500",
            None,  # the shipped catalog, said in the document: a field error at demand
        ),
    ],
)
async def test_orders_the_operator_cannot_serve_get_422(
    system: System, change: Any, detail: str, code: str | None
) -> None:
    body = order_request()
    change(body)
    response = await system.http.post("/orders", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem.get("code") == code
    assert detail in problem["detail"] or [
        (e["location"], e["type"]) for e in problem["errors"] if detail in e["message"]
    ] == [(["body", "demand"], "bandwidth_not_offered")]
    listed = (await system.http.get("/orders", params={"limit": 500})).json()["items"]
    assert body["external_reference"] not in [o["external_reference"] for o in listed]


async def test_reports_that_do_not_fit_are_rejected(system: System) -> None:
    order = await create(system)
    technician = await assigned(system, order["id"])

    other = await report(system, order["id"], "tech-east-1", "accepted")
    assert other.status_code == 403
    assert other.json()["code"] == "NOT_ASSIGNED"

    early = await report(system, order["id"], technician, "completed", ont_serial="HWTC0001")
    assert early.status_code == 409
    assert early.json()["code"] == "INVALID_TRANSITION"

    assert (await report(system, order["id"], technician, "accepted")).status_code == 200
    assert (await report(system, order["id"], technician, "on_site")).status_code == 200
    no_serial = await report(system, order["id"], technician, "completed")
    assert no_serial.status_code == 422
    assert no_serial.json()["code"] == "MISSING_EVIDENCE"

    assigned_again = await report(system, order["id"], technician, "assigned")
    assert assigned_again.status_code == 422  # not a state a technician reports

    refused = await report(
        system, order["id"], technician, "cannot_complete", reason_code="customer_declined"
    )
    assert refused.status_code == 200
    failed = await wait_for(system, order["id"], lambda o: o["status"] == "failed")
    assert "customer_declined" in failed["status_reason"]
    statuses = {t["kind"]: t["status"] for t in failed["sub_tasks"]}
    assert statuses == {
        "construction": "failed",
        "activation": "succeeded",
        "quality_check": "skipped",
    }

    closed = await report(system, order["id"], technician, "accepted")
    assert closed.status_code == 409
    assert closed.json()["code"] == "ORDER_CLOSED"


async def test_unknown_things_are_404(system: System) -> None:
    missing = str(uuid.uuid4())
    assert (await system.http.get(f"/orders/{missing}")).status_code == 404
    assert (await system.http.get(f"/orders/{missing}/history")).status_code == 404
    response = await report(system, missing, "tech-north-1", "accepted")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert (await system.http.get("/technicians/nobody/jobs")).status_code == 404


async def test_list_filters_by_status_and_region(system: System) -> None:
    order = await create(system)
    await wait_for(system, order["id"], lambda o: o["status"] == "in_progress")
    page = (
        await system.http.get("/orders", params={"status": "in_progress", "region": "north"})
    ).json()
    assert order["id"] in [o["id"] for o in page["items"]]
    assert all(o["status"] == "in_progress" for o in page["items"])
    assert (await system.http.get("/orders", params={"status": "nonsense"})).status_code == 422
    assert (await system.http.get("/orders", params={"limit": 0})).status_code == 422


async def test_list_filters_by_technician_and_time(system: System) -> None:
    order = await create(system)
    technician = await assigned(system, order["id"])
    created = order["created_at"]
    mine = (await system.http.get("/orders", params={"technician": technician})).json()
    assert order["id"] in [o["id"] for o in mine["items"]]
    others = (await system.http.get("/orders", params={"technician": "tech-nobody"})).json()
    assert (others["items"], others["total"]) == ([], 0)
    window = {"created_from": created, "created_to": "2100-01-01T00:00:00Z"}
    since = (await system.http.get("/orders", params=window)).json()
    assert order["id"] in [o["id"] for o in since["items"]]
    assert all(o["created_at"] >= created for o in since["items"])
    before = (await system.http.get("/orders", params={"created_to": created})).json()
    assert order["id"] not in [o["id"] for o in before["items"]]
    naive = await system.http.get("/orders", params={"created_from": "2026-01-01T00:00:00"})
    assert naive.status_code == 422


def in_east() -> dict[str, Any]:
    body = order_request()
    body["address"]["postcode"] = "20110"
    return body


async def test_cursor_pages_list_every_order_once(system: System) -> None:
    expected = {(await create(system, in_east()))["id"] for _ in range(5)}
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"region": "east", "limit": 2}
    while True:
        page = (await system.http.get("/orders", params=params)).json()
        seen += page["items"]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    ids = [o["id"] for o in seen]
    assert len(ids) == len(set(ids)) == page["total"]
    assert expected <= set(ids)
    keys = [(o["created_at"], o["id"]) for o in seen]
    assert keys == sorted(keys, reverse=True)


async def test_received_order_without_workflow_is_resumed(system: System) -> None:
    # The API stopped between storing an order and starting its workflow.
    from api.workflows import resume_received_orders
    from tests.factories import new_order

    stored, _ = await system.stores.orders.create_order(new_order())
    resumed = await resume_received_orders(
        system.stores.orders, system.temporal, system.settings.task_queue
    )
    assert resumed >= 1
    order = await wait_for(
        system, stored.id, lambda o: construction(o).get("technician_id") is not None
    )
    assert order["status"] == "in_progress"


async def test_health(system: System) -> None:
    response = await system.http.get("/healthz")
    assert response.json() == {"database": "ok", "temporal": "ok"}


async def test_openapi_lists_every_route(system: System) -> None:
    spec = (await system.http.get("/openapi.json")).json()
    assert set(spec["paths"]) >= {
        "/orders",
        "/orders/{order_id}",
        "/orders/{order_id}/history",
        "/orders/{order_id}/construction/reports",
        "/technicians",
        "/technicians/{technician_id}/jobs",
        "/healthz",
    }


async def test_the_documented_examples_create_orders(system: System) -> None:
    spec = (await system.http.get("/openapi.json")).json()
    body = spec["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"]
    assert len(body["examples"]) >= 2
    for example in body["examples"].values():
        order = {**example["value"], "external_reference": f"example-{uuid.uuid4().hex[:8]}"}
        response = await system.http.post("/orders", json=order)
        assert response.status_code == 201, response.text


async def test_operations_retry_an_activation_with_edited_data(system: System) -> None:
    healthy = system.nms.config
    system.nms.config = replace(healthy, faulty_port_rate=1.0)  # every port reports LOS
    try:
        order = await create(system)
        technician = await assigned(system, order["id"])
        for state in ("accepted", "on_site"):
            assert (await report(system, order["id"], technician, state)).status_code == 200
        assert (
            await report(system, order["id"], technician, "completed", ont_serial="HWTC0042")
        ).status_code == 200
        waiting = await wait_for(
            system, order["id"], lambda o: o["status"] == "waiting_for_operations", timeout_s=60
        )
        assert waiting["status_reason"].startswith("activation: revised 6 times in a row")
        activation = next(t for t in waiting["sub_tasks"] if t["kind"] == "activation")
        assert activation["status"] == "waiting_for_operations"

        url = f"/orders/{order['id']}/activation/operations"
        bad = await system.http.post(url, json={"action": "retry", "data": {"olt_id": "x"}})
        assert bad.status_code == 422
        assert ["body", "data", "pon_port"] in [e["location"] for e in bad.json()["errors"]]
        early = await system.http.post(
            f"/orders/{order['id']}/quality_check/operations", json={"action": "retry"}
        )
        assert early.status_code == 409
        assert early.json()["code"] == "NOT_WAITING"
        no_reason = await system.http.post(url, json={"action": "abort"})
        assert no_reason.status_code == 422

        # The field crew repaired the port; nothing else in the network stands in the way.
        system.nms.config = replace(
            healthy,
            faulty_port_rate=0,
            port_conflict_rate=0,
            vlan_conflict_rate=0,
            legacy_olt_rate=0,
        )
        olt, port = activation["data"]["olt_id"], activation["data"]["pon_port"]
        taken = await system.stores.inventory.occupancy([olt], order["id"])
        free_vlan = next(v for v in range(199, 99, -1) if (olt, port, v) not in taken.vlans)
        edited = {**activation["data"], "vlan": free_vlan}  # another VLAN, chosen by hand
        retried = await system.http.post(url, json={"action": "retry", "data": edited})
        assert retried.status_code == 200, retried.text
        assert retried.json()["waiting_for_operations"] == {}
        done = await wait_for(system, order["id"], lambda o: o["status"] == "completed")
        activation = next(t for t in done["sub_tasks"] if t["kind"] == "activation")
        assert activation["data"] == edited
        history = (await system.http.get(f"/orders/{order['id']}/history")).json()
        started = [e for e in history["events"] if e["kind"] == "activation.attempt_started"]
        assert started[-1]["actor"] == "operations:ops"
        assert activations(system.nms, order["id"]) == 1
    finally:
        system.nms.config = healthy


async def test_region_inventory(system: System) -> None:
    usage = (await system.http.get("/regions/north/inventory")).json()
    assert usage["slots"] == 2 * 16 * 64
    assert usage["active"] >= 1  # the orders activated so far in this session
    assert (await system.http.get("/regions/atlantis/inventory")).status_code == 404
