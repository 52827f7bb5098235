"""``workorders orders``: what customers and colleagues typed is printed as it is."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from workorders import ops

HOSTILE = "changed my mind [/bold] [red]not red[/] [link=x]"

ORDER: dict[str, Any] = {
    "id": "wo-1",
    "external_reference": "CRM-[/]",
    "status": "cancelled",
    "status_reason": f"cancelled by front_desk:anna: {HOSTILE}",
    "region": "north",
    "profile": "ftth-300",
    "created_at": "2026-12-04T10:00:00Z",
    "sub_tasks": [
        {
            "kind": "construction",
            "status": "cancelled",
            "technician_id": "tech-[/i]",
            "job_state": "assigned",
            "attempts": 1,
            "detail": HOSTILE,
            "data": {"note": HOSTILE},
        }
    ],
}
HISTORY = {
    "events": [
        {
            "at": "2026-12-04T10:00:00Z",
            "actor": "front_desk:[/]",
            "kind": "order.cancellation_requested",
            "detail": {"reason": HOSTILE},
        }
    ]
}


def _answer(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/orders":
        return httpx.Response(
            200, json={"items": [ORDER], "total": 1, "limit": 50, "next_cursor": "[/]"}
        )
    if request.url.path.endswith("/history"):
        return httpx.Response(200, json=HISTORY)
    if request.url.path.endswith("/cancel"):
        return httpx.Response(409, json={"title": "Order has ended", "detail": HOSTILE})
    return httpx.Response(200, json=ORDER)


@pytest.fixture(autouse=True)
def api(monkeypatch: pytest.MonkeyPatch) -> None:
    transport = httpx.MockTransport(_answer)
    monkeypatch.setattr(
        ops, "_client", lambda api_url: httpx.Client(base_url="http://api", transport=transport)
    )
    # Wide enough that rich does not wrap the text under test.
    monkeypatch.setattr(ops.console, "width", 400)


@pytest.mark.parametrize("args", [["show", "wo-1"], ["list"]], ids=["show", "list"])
def test_markup_in_what_people_typed_is_printed_as_it_is(args: list[str]) -> None:
    result = CliRunner().invoke(ops.app, args)
    assert result.exit_code == 0, result.output
    assert "[/bold]" in result.output
    assert "[red]not red[/]" in result.output


def test_a_refusal_with_markup_is_printed_as_it_is() -> None:
    result = CliRunner().invoke(ops.app, ["cancel", "wo-1", "--reason", "x", "--no-wait"])
    assert result.exit_code == 1
    assert HOSTILE in result.output
