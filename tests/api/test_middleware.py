"""What every request meets before a route: the body limit (413), the token (401)
before the body is parsed, and the security headers on every response."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.types import Message

from api.middleware import BodyLimit
from tests.api.conftest import BareApi, bare_api
from workorders.auth import Role

LIMIT = 1024


@pytest.fixture(scope="module")
async def small(bare: BareApi) -> AsyncIterator[BareApi]:
    """The bare API with a body limit of 1 KiB, on the same database."""
    url = bare.settings.effective_database_url
    async with bare_api(url, max_request_body_bytes=LIMIT) as api:
        yield api


async def chunks(total: int, size: int = 256) -> AsyncIterator[bytes]:
    for start in range(0, total, size):
        yield b" " * min(size, total - start)


def too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "BODY_TOO_LARGE"


@pytest.mark.parametrize("path", ["/orders", "/healthz", "/codec/decode"])
async def test_a_body_over_the_limit_is_413_before_authentication(
    small: BareApi, path: str
) -> None:
    body = b"{" + b" " * LIMIT + b"}"
    too_large(await small.http.post(path, content=body))
    too_large(await small.http.post(path, content=body, headers=small.auth(Role.OPERATIONS, "o")))


async def test_a_streamed_body_over_the_limit_is_413(small: BareApi) -> None:
    response = await small.http.post("/orders", content=chunks(LIMIT + 1))
    assert "content-length" not in response.request.headers
    too_large(response)


async def test_a_body_at_the_limit_is_read(small: BareApi) -> None:
    response = await small.http.post(
        "/orders", content=chunks(LIMIT), headers=small.auth(Role.OPERATIONS, "o")
    )
    assert response.status_code == 422, response.text  # blanks are no JSON, but were read


async def test_the_limit_is_a_mebibyte_by_default(bare: BareApi) -> None:
    assert bare.settings.max_request_body_bytes == 1024 * 1024
    too_large(await bare.http.post("/orders", content=b" " * (1024 * 1024 + 1)))


async def test_a_large_body_is_refused_unread() -> None:
    """A Content-Length over the limit: not one byte is read."""
    read = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the app was called")

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": b"x" * 100, "more_body": True}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/orders",
        "headers": [(b"content-length", str(200 * 1024 * 1024).encode())],
    }
    await BodyLimit(app, max_bytes=LIMIT)(scope, receive, send)
    assert read == 0
    assert sent[0]["status"] == 413


@pytest.mark.parametrize("body", [b"{not json", b'{"reason": '])
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eDp5"}]
)
async def test_invalid_json_without_a_valid_token_is_401(
    bare: BareApi, body: bytes, headers: dict[str, str]
) -> None:
    for path in ("/orders", "/orders/x/cancel", "/technicians"):
        response = await bare.http.post(
            path, content=body, headers={"Content-Type": "application/json", **headers}
        )
        assert response.status_code == 401, (path, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == "application/problem+json"


async def test_invalid_json_with_a_token_is_still_422(bare: BareApi) -> None:
    response = await bare.http.post(
        "/orders",
        content=b"{not json",
        headers={"Content-Type": "application/json", **bare.auth(Role.FRONT_DESK, "anna")},
    )
    assert response.status_code == 422, response.text


async def test_the_docs_need_no_token(bare: BareApi) -> None:
    for path in ("/openapi.json", "/docs"):
        assert (await bare.http.get(path)).status_code == 200, path


async def test_every_response_is_nosniff_and_not_stored(bare: BareApi) -> None:
    ops = bare.auth(Role.OPERATIONS, "ops")
    for response in (
        await bare.http.get("/orders", headers=ops),
        await bare.http.get("/orders/nobody", headers=ops),
        await bare.http.get("/orders"),
        await bare.http.get("/technicians", headers=ops),
        await bare.http.post("/orders", content=b"{", headers=ops),
        await bare.http.get("/openapi.json"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff", response.url
        assert response.headers["cache-control"] == "no-store", response.url


async def test_the_probes_are_nosniff_and_may_be_stored(bare: BareApi) -> None:
    response = await bare.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "cache-control" not in response.headers


async def test_an_internal_error_is_nosniff_and_not_stored(
    bare: BareApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(bare.app.state.stores.db.engine, "connect", fail)
    response = await bare.http.get("/orders", headers=bare.auth(Role.OPERATIONS, "ops"))
    assert response.status_code == 500
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "path",
    [
        "/orders?technician=~%C3%BF%00",  # what schemathesis sent PostgreSQL: a 500 then
        "/orders/abc%00def",
        "/appointments/slots?postcode=10115&district=%00",
        "/tmf-api/serviceOrdering/v4/serviceOrder?externalId=%00",
    ],
)
async def test_a_nul_in_the_path_or_query_is_refused_before_any_lookup(
    bare: BareApi, path: str
) -> None:
    response = await bare.http.get(path, headers=bare.auth(Role.OPERATIONS, "ops"))
    tmf = path.startswith("/tmf-api")
    assert response.status_code == (400 if tmf else 422), response.text
    assert response.json()["code"] == "NUL_CHARACTER"
    if tmf:
        assert set(response.json()) >= {"code", "reason", "message", "status"}  # TMF Error
