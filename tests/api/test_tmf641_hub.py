"""The TMF641 hub through the API: registering and removing listeners, who may, and
what is refused (with the spec's Error body, storing nothing); and the events of an
order made and cancelled through TMF641, delivered to a real listener."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import httpx
import pytest
from sqlalchemy import func, select

from tests.api.conftest import BareApi, System, bare_api
from tests.api.test_orders import wait_for
from tests.api.test_tmf641 import BASE, conforms, create, external_id
from tests.listener import listening
from tests.unit.test_tmf641 import service_order
from workorders.auth import Role
from workorders.db import Database
from workorders.hub import Backoff, Deliverer
from workorders.store.hub import LISTENERS
from workorders.tmf641.events import (
    CANCEL_CREATE,
    CANCEL_STATE_CHANGE,
    CREATE,
    SIGNATURE_HEADER,
    STATE_CHANGE,
    sign,
)

SECRET = "crm-listener-secret-1"


async def register(api: BareApi | System, body: object, role: Role, name: str) -> httpx.Response:
    return await api.http.post(f"{BASE}/hub", json=body, headers=api.auth(role, name))


async def test_the_front_desk_registers_and_removes_its_own_listener(bare: BareApi) -> None:
    body = {"callback": "https://crm.example.com/listener", "query": "eventType=" + CREATE}
    response = await register(bare, {**body, "secret": SECRET}, Role.FRONT_DESK, "crm")

    assert response.status_code == 201, response.text
    conforms("EventSubscription", response.json())
    created = response.json()
    assert {k: created[k] for k in body} == body
    assert "secret" not in created
    assert response.headers["Location"] == f"{BASE}/hub/{created['id']}"
    stores = bare.app.state.stores
    stored = await stores.hub.get(created["id"])
    assert (stored.owner, stored.secret) == ("front_desk:crm", SECRET)

    other = await bare.http.delete(
        f"{BASE}/hub/{created['id']}", headers=bare.auth(Role.FRONT_DESK, "another-crm")
    )
    assert other.status_code == 403
    conforms("Error", other.json())
    assert await stores.hub.get(created["id"]) is not None

    mine = await bare.http.delete(
        f"{BASE}/hub/{created['id']}", headers=bare.auth(Role.FRONT_DESK, "crm")
    )
    assert mine.status_code == 204
    assert await stores.hub.get(created["id"]) is None
    again = await bare.http.delete(
        f"{BASE}/hub/{created['id']}", headers=bare.auth(Role.FRONT_DESK, "crm")
    )
    assert again.status_code == 404
    conforms("Error", again.json())


async def test_operations_remove_any_listener(bare: BareApi) -> None:
    response = await register(bare, {"callback": "http://127.0.0.1:9000/x"}, Role.FRONT_DESK, "crm")
    listener_id = response.json()["id"]

    removed = await bare.http.delete(
        f"{BASE}/hub/{listener_id}", headers=bare.auth(Role.OPERATIONS, "olga")
    )

    assert removed.status_code == 204


async def test_technicians_and_strangers_may_not_register(bare: BareApi) -> None:
    technician = await register(
        bare, {"callback": "https://crm.example.com/l"}, Role.TECHNICIAN, "tech-north-1"
    )
    assert technician.status_code == 403
    conforms("Error", technician.json())
    anonymous = await bare.http.post(f"{BASE}/hub", json={"callback": "https://crm.example.com/l"})
    assert anonymous.status_code == 401
    conforms("Error", anonymous.json())


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"callback": "ftp://crm.example.com/l"}, "INVALID_CALLBACK"),
        ({"callback": "https://crm.example.com/" + "a" * 2000}, "INVALID_CALLBACK"),
        ({"callback": "https://u:p@crm.example.com/l"}, "INVALID_CALLBACK"),
        ({"callback": "not a url"}, "INVALID_CALLBACK"),
        ({"callback": "https://crm.example.com/l", "query": "eventType=Nope"}, "INVALID_QUERY"),
        ({"callback": "https://crm.example.com/l", "query": "state=held"}, "INVALID_QUERY"),
        ({"callback": "https://crm.example.com/l", "secret": "short"}, "INVALID_BODY"),
        ({"callback": "https://crm.example.com/l", "colour": "red"}, "INVALID_BODY"),
        ({"query": "eventType=" + CREATE}, "INVALID_BODY"),
        ([], "INVALID_BODY"),
    ],
)
async def test_bad_registrations_are_400_errors_and_store_nothing(
    bare: BareApi, body: object, code: str
) -> None:
    before = await _listeners(bare)
    response = await register(bare, body, Role.OPERATIONS, "olga")

    assert response.status_code == 400, response.text
    conforms("Error", response.json())
    assert response.json()["code"] == code
    assert await _listeners(bare) == before


async def test_a_body_that_is_not_json_is_a_400_error(bare: BareApi) -> None:
    response = await bare.http.post(
        f"{BASE}/hub",
        content=b"{not json",
        headers={**bare.auth(Role.OPERATIONS, "olga"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    conforms("Error", response.json())


async def _listeners(api: BareApi) -> int:
    db: Database = api.app.state.stores.db
    return int(
        await db.run_on_connection(
            lambda c: c.execute(select(func.count()).select_from(LISTENERS)).scalar_one()
        )
    )


@pytest.fixture(scope="module")
async def production(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BareApi]:
    """The API as in production: callbacks only to the allow-list's hosts."""
    url = f"sqlite:///{tmp_path_factory.mktemp('prod') / 'workorders.db'}"
    db = Database.from_url(url)
    await db.migrate()
    await db.dispose()
    async with bare_api(
        url,
        environment="production",
        auth_secret="s" * 40,
        payload_key=base64.b64encode(b"k" * 32).decode(),
        hub_allowed_hosts=["crm.example.com", "*.partner.example.net"],
        data_dir=Path(url.removeprefix("sqlite:///")).parent,
    ) as api:
        yield api


@pytest.mark.parametrize(
    ("callback", "status"),
    [
        ("https://crm.example.com/listener", 201),
        ("https://eu.partner.example.net/listener", 201),
        ("https://127.0.0.1:9000/listener", 400),
        ("https://evil.example.org/listener", 400),
        ("https://crm.example.com.evil.org/listener", 400),
    ],
)
async def test_outside_development_only_allowed_hosts(
    production: BareApi, callback: str, status: int
) -> None:
    response = await register(production, {"callback": callback}, Role.FRONT_DESK, "crm")

    assert response.status_code == status, response.text
    conforms("EventSubscription" if status == 201 else "Error", response.json())


async def test_a_listener_gets_an_orders_events_made_through_tmf641(system: System) -> None:
    async with (
        listening() as listener,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
    ):
        response = await register(
            system, {"callback": listener.url, "secret": SECRET}, Role.FRONT_DESK, "crm"
        )
        listener_id = response.json()["id"]
        deliverer = Deliverer(
            system.stores.hub, http, backoff=Backoff(0.001, 0.001), base_url="https://api"
        )
        task = asyncio.create_task(deliverer.run())
        try:
            created = await create(system, service_order(external_id()))
            cancel = await system.http.post(
                f"{BASE}/cancelServiceOrder",
                json={"serviceOrder": {"id": created["id"]}, "cancellationReason": "moved"},
            )
            assert cancel.status_code == 201
            await wait_for(system, created["id"], lambda o: o["status"] == "cancelled")
            mine: list[dict[str, object]] = []
            for _ in range(1000):
                mine = [
                    r.json for r in listener.received if r.json["correlationId"] == created["id"]
                ]
                if mine and mine[-1]["eventType"] == CANCEL_STATE_CHANGE:
                    break
                await asyncio.sleep(0.01)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await system.stores.hub.remove(listener_id)

    types = [b["eventType"] for b in mine]
    assert types[0] == CREATE
    assert CANCEL_CREATE in types
    assert types[-2:] == [STATE_CHANGE, CANCEL_STATE_CHANGE]
    assert [b["event"] for b in mine][-2]["serviceOrder"]["state"] == "cancelled"  # type: ignore[index]
    for r in listener.received:
        assert r.headers[SIGNATURE_HEADER.lower()] == sign(SECRET, r.body)
        conforms(r.json["eventType"], r.json)
    assert len({b["eventId"] for b in mine}) == len(mine)
    assert uuid.UUID(str(mine[0]["eventId"]))
