"""Structured logs: JSON lines that parse and carry the order's id."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from api.metrics import ApiMetrics, MeteredOrders, RequestMetrics, name_the_order
from tests.factories import new_order
from workflows import workflow_id_for
from workorders.config import Settings
from workorders.db import Database
from workorders.logs import (
    JsonFormatter,
    configure_logging,
    order_context,
    order_id_of_workflow,
)

Lines = Callable[[], list[dict[str, Any]]]
log = logging.getLogger("workorders.test_logs")


@pytest.fixture
def lines() -> Iterator[Lines]:
    """What ``log`` writes, as parsed JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    log.removeHandler(handler)
    log.setLevel(logging.NOTSET)


@pytest.fixture
def restore_root() -> Iterator[None]:
    """Put the root logger back as pytest had it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_json_line_has_time_level_logger_message_and_extras(lines: Lines) -> None:
    log.warning("activation of %s refused", "olt-1", extra={"error_code": "VLAN_TAKEN"})
    (line,) = lines()
    assert line["level"] == "WARNING"
    assert line["logger"] == "workorders.test_logs"
    assert line["message"] == "activation of olt-1 refused"
    assert line["error_code"] == "VLAN_TAKEN"
    assert line["time"].endswith("+00:00")
    assert "order_id" not in line


def test_an_exception_is_one_field_of_the_line(lines: Lines) -> None:
    try:
        raise RuntimeError("the NMS fell over")
    except RuntimeError:
        log.exception("could not activate")
    (line,) = lines()
    assert line["message"] == "could not activate"
    assert "RuntimeError: the NMS fell over" in line["exception"]


def test_the_order_in_context_is_on_every_line_until_the_context_ends(lines: Lines) -> None:
    with order_context("order-1"):
        log.info("inside")
        log.info("named explicitly", extra={"order_id": "order-2"})
    log.info("outside")
    inside, explicit, outside = lines()
    assert inside["order_id"] == "order-1"
    assert explicit["order_id"] == "order-2"
    assert "order_id" not in outside


async def test_an_activity_line_carries_its_workflow_and_order(lines: Lines) -> None:
    @activity.defn(name="activate_resources")
    async def activate() -> None:
        log.info("activating")

    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        workflow_id=workflow_id_for("order-7"),
        activity_type="activate_resources",
        attempt=2,
    )
    await env.run(activate)
    (line,) = lines()
    assert line["order_id"] == "order-7"
    assert line["workflow_id"] == "work-order-order-7"
    assert line["activity"] == "activate_resources"
    assert line["attempt"] == 2


def test_the_order_id_is_read_from_work_order_workflow_ids_only() -> None:
    assert order_id_of_workflow(workflow_id_for("abc-123")) == "abc-123"
    assert order_id_of_workflow("some-other-workflow") is None


async def test_an_api_request_names_the_order_of_its_route(lines: Lines) -> None:
    app = FastAPI(dependencies=[Depends(name_the_order)])

    @app.get("/orders/{order_id}/history")
    async def history(order_id: str) -> dict[str, str]:
        log.info("reading the history")
        return {}

    @app.get("/technicians")
    async def technicians() -> list[str]:
        log.info("listing technicians")
        return []

    app.add_middleware(RequestMetrics, metrics=ApiMetrics())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        assert (await http.get("/orders/order-9/history")).status_code == 200
        assert (await http.get("/technicians")).status_code == 200
    about_order, about_nobody = lines()
    assert about_order["order_id"] == "order-9"
    assert "order_id" not in about_nobody


@pytest.mark.usefixtures("restore_root")
def test_configure_logging_writes_json_lines_when_asked() -> None:
    stream = io.StringIO()
    configure_logging(Settings(_env_file=None, log_format="json"), stream=stream)
    with order_context("order-3"):
        logging.getLogger("workorders.worker").info("polling")
    logging.getLogger("workorders.worker").debug("not at INFO")
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["message"] == "polling"
    assert line["order_id"] == "order-3"


@pytest.mark.usefixtures("restore_root")
def test_configure_logging_writes_text_by_default() -> None:
    stream = io.StringIO()
    configure_logging(Settings(_env_file=None), stream=stream, level=logging.WARNING)
    logging.getLogger("workorders.demo").info("hidden below the level asked for")
    logging.getLogger("workorders.demo").warning("an order did not end")
    (text,) = stream.getvalue().splitlines()
    assert text.endswith(" WARNING workorders.demo an order did not end")
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


async def test_an_order_created_through_the_api_store_is_named_in_the_logs(
    database: Database, lines: Lines
) -> None:
    orders = MeteredOrders(database, ApiMetrics())
    with order_context(None):
        order, created = await orders.create_order(new_order())
        log.info("starting its workflow")
    assert created
    (line,) = lines()
    assert line["order_id"] == order.id
