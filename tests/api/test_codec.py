"""The codec endpoint, and the check that Temporal's stored history holds no customer
data in plain text: only the codec (the API's ``/codec``, which the Temporal UI and CLI
call) reads it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from itsdangerous import TimestampSigner
from temporalio.api.common.v1 import Payload, Payloads, WorkflowExecution
from temporalio.api.query.v1 import WorkflowQuery
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.api.workflowservice.v1 import QueryWorkflowRequest
from temporalio.client import WorkflowHistory

from api import errors
from api.routes import codec
from bench.system import free_port
from tests.api.conftest import BareApi, System, bare_api
from tests.factories import order_request
from workflows import workflow_id_for
from workorders.auth import Role, issue_token
from workorders.codec import ENCODING, EncryptionCodec
from workorders.config import Settings
from workorders.db import Database
from workorders.users import hash_password

BIN = Path(sys.executable).parent
NAME = "Zhao Lanfang"
PHONE = "+86 139 5550 7261"
STREET = "Fuxingmen Avenue"
SECRETS = (NAME, PHONE, STREET)
METADATA_QUERY = "__temporal_workflow_metadata"


def ops(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, Role.OPERATIONS, 'ops')}"}


def as_json(payloads: list[Payload]) -> dict[str, Any]:
    body: dict[str, Any] = json_format.MessageToDict(Payloads(payloads=payloads))
    return body


def from_json(body: dict[str, Any]) -> list[Payload]:
    return list(json_format.ParseDict(body, Payloads()).payloads)


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every payload in a protobuf message (a history event), however deep."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            if entry.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE:
                for item in value.values():
                    yield from payloads_in(item)
        elif isinstance(value, Message):
            yield from payloads_in(value)
        else:  # repeated
            for item in value:
                yield from payloads_in(item)


async def post(
    http: httpx.AsyncClient, path: str, body: Any, headers: dict[str, str]
) -> httpx.Response:
    return await http.post(path, json=body, headers=headers)


# Access --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/codec/encode", "/codec/decode"])
async def test_the_codec_needs_an_operations_token(system: System, path: str) -> None:
    body: dict[str, Any] = {"payloads": []}
    response = await system.http.post(path, json=body, headers={"Authorization": ""})
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    desk = system.auth(Role.FRONT_DESK, "desk")
    response = await system.http.post(path, json=body, headers=desk)
    assert response.status_code == 403, response.text
    technician = system.auth(Role.TECHNICIAN, "tech-north-1")
    assert (await system.http.post(path, json=body, headers=technician)).status_code == 403
    response = await system.http.post(path, json=body, headers=ops(system.settings))
    assert response.status_code == 200, response.text
    assert response.json() == {"payloads": []}


# The Temporal UI in development: the console's session ---------------------------

UI = "http://127.0.0.1:8233"
"""The Temporal UI of ``workorders up``: an allowed origin (``cors_origins``)."""
PASSWORD = "correct horse battery"
PRODUCTION = {
    "environment": "production",
    "auth_secret": "s" * 48,
    "payload_key": base64.b64encode(b"k" * 32).decode(),
}


@contextlib.asynccontextmanager
async def ui_api(tmp_path: Path, **settings: Any) -> AsyncIterator[BareApi]:
    """The API (no Temporal) on a database of its own, the Temporal UI's origin allowed
    (:data:`UI` unless ``cors_origins`` says otherwise), with a console user of each role
    (named after the role's value)."""
    url = f"sqlite:///{tmp_path / 'workorders.db'}"
    db = Database.from_url(url)
    await db.migrate()
    await db.dispose()
    async with bare_api(url, **{"cors_origins": [UI], **settings}) as api:
        users = api.app.state.stores.users
        for role in Role:
            technician = "tech-north-1" if role is Role.TECHNICIAN else None
            await users.add_user(
                role.value, role, hash_password(PASSWORD), technician_id=technician
            )
        yield api


@contextlib.asynccontextmanager
async def signed_in_browser(api: BareApi, name: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of its own (its own cookies), signed in to the console as ``name``."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api.app, raise_app_exceptions=False),
        base_url="http://api",
    ) as browser:
        page = await browser.get("/console/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf, page.text[:500]
        signed = await browser.post(
            "/console/login", data={"name": name, "password": PASSWORD, "csrf": csrf.group(1)}
        )
        assert signed.status_code == 303, signed.text
        yield browser


async def sealed(settings: Settings) -> dict[str, Any]:
    """:data:`PHONE` as the worker's codec encrypts it."""
    payload = Payload(metadata={"encoding": b"json/plain"}, data=f'"{PHONE}"'.encode())
    return as_json(await EncryptionCodec.from_settings(settings).encode([payload]))


def credentialed(response: httpx.Response) -> bool:
    """CORS lets the UI's page read this answer to a fetch with credentials."""
    return (
        response.headers.get("access-control-allow-origin") == UI
        and response.headers.get("access-control-allow-credentials") == "true"
        and "origin" in response.headers.get("vary", "").lower()
    )


@pytest.mark.parametrize("path", ["/codec/decode", "/console/codec/decode"])
async def test_the_temporal_uis_origin_alone_decodes_nothing(tmp_path: Path, path: str) -> None:
    """Any local client can send the UI's Origin: without a token or an operator's
    session it gets no plain text (it did from /codec before)."""
    async with ui_api(tmp_path) as api:
        body = await sealed(api.settings)
        response = await api.http.post(path, json=body, headers={"Origin": UI})
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert PHONE not in response.text


async def test_a_signed_in_operations_session_decodes_for_the_ui(tmp_path: Path) -> None:
    async with ui_api(tmp_path) as api, signed_in_browser(api, Role.OPERATIONS.value) as browser:
        body = await sealed(api.settings)
        headers = {"Origin": UI, "X-Namespace": api.settings.temporal_namespace}
        decoded = await browser.post(
            "/console/codec/decode?preserveStorageRefs=true", json=body, headers=headers
        )
        assert decoded.status_code == 200, decoded.text
        (plain,) = from_json(decoded.json())
        assert plain.data == f'"{PHONE}"'.encode()
        assert credentialed(decoded)
        encoded = await browser.post("/console/codec/encode", json=decoded.json(), headers=headers)
        assert encoded.status_code == 200, encoded.text
        assert [p.metadata["encoding"] for p in from_json(encoded.json())] == [ENCODING]
        assert credentialed(encoded)

        # the session is the UI's only: not another page's, nor a client's without Origin
        for origin in ({"Origin": "http://127.0.0.1:3000"}, {}):
            other = await browser.post("/console/codec/decode", json=body, headers=origin)
            assert other.status_code == 403, other.text
            assert PHONE not in other.text
            assert "access-control-allow-origin" not in other.headers
        # nor a bearer path: /codec reads no cookie (the cookie's path is /console)
        bare = await browser.post("/codec/decode", json=body, headers={"Origin": UI})
        assert bare.status_code == 401, bare.text
        # a bad body is a problem document, not a console page
        bad = await browser.post("/console/codec/decode", json=[], headers=headers)
        assert bad.status_code == 422, bad.text
        assert bad.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.TECHNICIAN])
async def test_a_session_of_another_role_decodes_nothing(tmp_path: Path, role: Role) -> None:
    async with ui_api(tmp_path) as api, signed_in_browser(api, role.value) as browser:
        response = await browser.post(
            "/console/codec/decode", json=await sealed(api.settings), headers={"Origin": UI}
        )
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert PHONE not in response.text


async def test_the_preflight_allows_the_uis_credentialed_fetch_only(tmp_path: Path) -> None:
    request = {
        "Origin": UI,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace",
    }
    async with ui_api(tmp_path) as api:
        preflight = await api.http.options("/console/codec/decode", headers=request)
        assert preflight.status_code == 200, preflight.text
        assert credentialed(preflight)
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert {"content-type", "x-namespace"} <= {h.strip() for h in allowed.split(",")}
        assert "POST" in preflight.headers["access-control-allow-methods"]

        stranger = await api.http.options(
            "/console/codec/decode", headers={**request, "Origin": "http://127.0.0.1:3000"}
        )
        assert stranger.status_code == 400
        assert "access-control-allow-origin" not in stranger.headers
        # the rest of the API allows the origin, but never with credentials
        api_preflight = await api.http.options("/codec/decode", headers=request)
        assert api_preflight.status_code == 200
        assert api_preflight.headers["access-control-allow-origin"] == UI
        assert "access-control-allow-credentials" not in api_preflight.headers


async def test_outside_development_nothing_decodes_without_a_token(tmp_path: Path) -> None:
    async with ui_api(tmp_path, **PRODUCTION) as api:
        body = await sealed(api.settings)
        for path in ("/codec/decode", "/console/codec/decode"):
            response = await api.http.post(path, json=body, headers={"Origin": UI})
            assert response.status_code in (401, 403), response.text
            assert PHONE not in response.text
        # even a valid session of an operations user (its cookie is Secure in production,
        # so it is made here as the console would, and sent over plain HTTP)
        session = base64.b64encode(json.dumps({"user": Role.OPERATIONS.value}).encode())
        signer = TimestampSigner(api.settings.auth_secret.get_secret_value())
        cookie = {"Cookie": f"workorders_console={signer.sign(session).decode()}"}
        response = await api.http.post(
            "/console/codec/decode", json=body, headers={"Origin": UI, **cookie}
        )
        assert response.status_code == 403, response.text
        assert PHONE not in response.text
        assert "access-control-allow-credentials" not in response.headers
        preflight = await api.http.options(
            "/console/codec/decode",
            headers={"Origin": UI, "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-credentials" not in preflight.headers
        # the CLI's way still works: an operations bearer token
        token = api.auth(Role.OPERATIONS, "ops")
        response = await api.http.post("/codec/decode", json=body, headers=token)
        assert response.status_code == 200, response.text
        assert from_json(response.json())[0].data == f'"{PHONE}"'.encode()


# The protocol --------------------------------------------------------------------


async def test_encode_then_decode_gives_the_payloads_back(system: System) -> None:
    original = [
        Payload(metadata={"encoding": b"json/plain"}, data=f'"{PHONE}"'.encode()),
        Payload(metadata={"encoding": b"binary/null"}),
    ]
    encoded = await post(system.http, "/codec/encode", as_json(original), ops(system.settings))
    assert encoded.status_code == 200, encoded.text
    sealed = from_json(encoded.json())
    assert [p.metadata["encoding"] for p in sealed] == [ENCODING, ENCODING]
    assert PHONE.encode() not in b"".join(p.data for p in sealed)

    decoded = await post(system.http, "/codec/decode", encoded.json(), ops(system.settings))
    assert decoded.status_code == 200, decoded.text
    assert from_json(decoded.json()) == original
    # the worker's own codec reads what the endpoint encrypted, and the other way round
    worker_codec = EncryptionCodec.from_settings(system.settings)
    assert await worker_codec.decode(sealed) == original
    by_worker = as_json(await worker_codec.encode(original))
    decoded = await post(system.http, "/codec/decode", by_worker, ops(system.settings))
    assert from_json(decoded.json()) == original


async def test_payloads_that_are_not_encrypted_come_back_unchanged(system: System) -> None:
    body = as_json([Payload(metadata={"encoding": b"json/plain"}, data=b'{"a": 1}')])
    response = await post(system.http, "/codec/decode", body, ops(system.settings))
    assert response.status_code == 200, response.text
    assert response.json() == body


@pytest.mark.parametrize(
    "body",
    [
        {"payloads": "nope"},
        {"payloads": [{"data": "not base64 ***"}]},
        {"payloads": [{"metadata": {"encoding": "a"}}]},
        {"payloads": [{"unknown": 1}]},
        [],
    ],
    ids=["not a list", "data not base64", "metadata not base64", "unknown field", "array"],
)
async def test_a_body_that_is_not_payloads_is_a_422_problem(system: System, body: Any) -> None:
    for path in ("/codec/encode", "/codec/decode"):
        response = await post(system.http, path, body, ops(system.settings))
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"


async def test_a_payload_that_does_not_decrypt_is_a_clear_422(system: System) -> None:
    stranger = EncryptionCodec(os.urandom(32))
    (foreign,) = await stranger.encode([Payload(data=b"x")])
    response = await post(system.http, "/codec/decode", as_json([foreign]), ops(system.settings))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "PAYLOAD_NOT_DECRYPTABLE"
    assert stranger.key_id in problem["detail"]

    (ours,) = await EncryptionCodec.from_settings(system.settings).encode([Payload(data=b"x")])
    ours.data = ours.data[:-1] + bytes([ours.data[-1] ^ 1])
    response = await post(system.http, "/codec/decode", as_json([ours]), ops(system.settings))
    assert response.status_code == 422, response.text
    assert "altered" in response.json()["detail"]


# Temporal's history ----------------------------------------------------------------


async def started_order(system: System) -> tuple[str, WorkflowHistory]:
    """A new order of :data:`NAME` at :data:`STREET`, and its workflow's history once
    ``start_order`` has handed the workflow its plan."""
    body = order_request()
    body["customer"].update(name=NAME, phone=PHONE)
    body["address"]["street"] = STREET
    desk = system.auth(Role.FRONT_DESK, "desk")
    response = await system.http.post("/orders", json=body, headers=desk)
    assert response.status_code == 201, response.text
    handle = system.temporal.get_workflow_handle(workflow_id_for(response.json()["id"]))
    for _ in range(300):
        with contextlib.suppress(Exception):  # not started yet
            history = await handle.fetch_history()
            if any(  # start_order, the workflow's first local activity, has ended
                e.marker_recorded_event_attributes.marker_name == "core_local_activity"
                for e in history.events
                if e.HasField("marker_recorded_event_attributes")
            ):
                return handle.id, history
        await asyncio.sleep(0.1)
    raise AssertionError("the workflow never ran start_order")


async def test_temporal_history_holds_no_plain_customer_data(system: System) -> None:
    _, history = await started_order(system)
    text = history.to_json()
    payloads = [p for e in history.events for p in payloads_in(e)]
    raw = b"".join(p.SerializeToString() for p in payloads)
    for secret in SECRETS:
        assert secret not in text
        assert secret.encode() not in raw
    assert any(p.metadata.get("encoding") == ENCODING for p in payloads)

    # ... yet it is there, encrypted: the codec endpoint reads it (so the check can fail)
    response = await post(system.http, "/codec/decode", as_json(payloads), ops(system.settings))
    assert response.status_code == 200, response.text
    plain = b"".join(p.data for p in from_json(response.json()))
    for secret in SECRETS:
        assert secret.encode() in plain


async def test_the_workflow_shows_whom_and_where_in_its_current_details(
    system: System,
) -> None:
    """The current details (Temporal UI, workflow page) name the customer; Temporal
    has them only from a query, whose answer the worker encrypts like every payload."""
    workflow_id, _ = await started_order(system)
    handle = system.temporal.get_workflow_handle(workflow_id)
    details = ""
    for _ in range(100):
        metadata = await handle.query(METADATA_QUERY, result_type=WorkflowMetadata)
        details = metadata.current_details
        if NAME in details:
            break
        await asyncio.sleep(0.1)
    assert f"customer: {NAME}, {PHONE}" in details
    assert f"address: {STREET} 88, 10115 Springfield" in details

    raw = await system.temporal.workflow_service.query_workflow(
        QueryWorkflowRequest(
            namespace=system.temporal.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id),
            query=WorkflowQuery(query_type=METADATA_QUERY),
        )
    )
    (answer,) = raw.query_result.payloads
    assert answer.metadata["encoding"] == ENCODING
    for secret in SECRETS:
        assert secret.encode() not in answer.SerializeToString()


# The Temporal CLI ------------------------------------------------------------------


def codec_app(settings: Settings) -> FastAPI:
    """Only the codec routes, on the API's settings (no database or Temporal client)."""
    app = FastAPI()
    app.state.settings = settings
    errors.install(app)
    app.include_router(codec.router)
    return app


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """``app`` on a free port of this machine, in this event loop; its URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            lifespan="off",
            ws="none",
            log_level="warning",
            timeout_graceful_shutdown=2,  # open live feeds end with the server
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(100):
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started, "the codec server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def temporal_show(system: System, workflow_id: str, *flags: str) -> str:
    """``temporal workflow show``, as an operator runs it (without their own
    configuration)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    process = await asyncio.create_subprocess_exec(
        str(BIN / "temporal"),
        "workflow",
        "show",
        "--disable-config-file",
        "--disable-config-env",
        "--address",
        system.settings.temporal_address,
        "--namespace",
        system.settings.temporal_namespace,
        "-w",
        workflow_id,
        *flags,
        env=clean,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def shown(system: System, workflow_id: str, *codec_flags: str) -> tuple[str, bytes]:
    """What ``temporal workflow show --detailed`` prints, and the bytes of every payload
    of ``temporal workflow show -o json`` (which prints them in base64)."""
    text = await temporal_show(system, workflow_id, "--detailed", *codec_flags)
    history = WorkflowHistory.from_json(
        workflow_id, await temporal_show(system, workflow_id, "-o", "json", *codec_flags)
    )
    payloads = [p for e in history.events for p in payloads_in(e)]
    return text, b"".join(p.SerializeToString() for p in payloads)


async def test_temporal_workflow_show_needs_the_codec_endpoint(system: System) -> None:
    workflow_id, _ = await started_order(system)
    text, payloads = await shown(system, workflow_id)
    assert "start_order" in text
    assert "YmluYXJ5L2VuY3J5cHRlZA==" in text  # binary/encrypted
    for secret in SECRETS:
        assert secret not in text
        assert secret.encode() not in payloads

    async with served(codec_app(system.settings)) as url:
        token = issue_token(system.settings, Role.OPERATIONS, "ops")
        text, payloads = await shown(
            system,
            workflow_id,
            "--codec-endpoint",
            f"{url}/codec",
            "--codec-auth",
            f"Bearer {token}",
        )
    for secret in SECRETS:
        assert secret in text
        assert secret.encode() in payloads
