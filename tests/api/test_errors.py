"""Problem documents for what the API cannot answer now: the database not answering is
a 503 to try again, as Temporal not answering is."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import InterfaceError, OperationalError

from tests.api.conftest import BareApi, bare_api
from workorders.auth import Role


async def test_a_database_that_cannot_be_opened_answers_503(tmp_path: Path) -> None:
    closed = f"sqlite:///{tmp_path / 'no-such-folder' / 'workorders.db'}"
    async with bare_api(closed) as api:
        response = await api.http.get("/orders", headers=api.auth(Role.OPERATIONS, "ops"))
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Database unavailable"


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused")),
        InterfaceError("SELECT 1", {}, Exception("connection already closed")),
        ConnectionResetError("connection reset by peer"),
    ],
)
async def test_a_lost_database_connection_answers_503(
    bare: BareApi, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def refuse() -> None:
        raise error

    monkeypatch.setattr(bare.app.state.stores.db.engine, "connect", refuse)
    response = await bare.http.get("/orders", headers=bare.auth(Role.OPERATIONS, "ops"))
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"


async def test_an_error_of_the_api_own_is_still_500(
    bare: BareApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(bare.app.state.stores.db.engine, "connect", fail)
    response = await bare.http.get("/orders", headers=bare.auth(Role.OPERATIONS, "ops"))
    assert response.status_code == 500
    assert "retry-after" not in response.headers


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/orders", "GET, POST"),
        ("/technicians", "GET, POST"),
        ("/technicians/tech-north-1", "PATCH"),
        ("/tmf-api/serviceOrdering/v4/serviceOrder", "GET, POST"),
    ],
)
async def test_a_405_allows_every_method_of_the_path(
    bare: BareApi, path: str, allowed: str
) -> None:
    """Each method of a path is a route of its own: the ``Allow`` of a 405 names them
    all, not only those of the first route that matched the path."""
    response = await bare.http.request("OPTIONS", path, headers=bare.auth(Role.OPERATIONS, "ops"))
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allowed
