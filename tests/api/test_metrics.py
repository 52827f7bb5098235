"""The API's ``/metrics``: Prometheus's text format, with the orders created and every
request by its route's template and status."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import System
from tests.factories import order_request

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(system: System) -> tuple[Samples, str]:
    response = await system.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    return samples, response.text


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(samples: Samples, method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return sample(samples, "workorders_http_requests_total", **labels)


async def test_creating_an_order_shows_in_the_metrics(system: System) -> None:
    before, _ = await scrape(system)
    body = order_request()
    created = await system.http.post("/orders", json=body)
    assert created.status_code == 201
    order_id = created.json()["id"]
    assert (await system.http.post("/orders", json=body)).status_code == 200  # the same order
    assert (await system.http.get(f"/orders/{order_id}")).status_code == 200
    assert (await system.http.get("/no-such-path")).status_code == 404
    after, text = await scrape(system)

    orders = "workorders_orders_created_total"
    assert sample(after, orders, channel="crm") - sample(before, orders, channel="crm") == 1
    assert (orders, frozenset({("channel", "web_shop")})) in after  # every channel, from 0
    for method, route, status in [
        ("POST", "/orders", "201"),
        ("POST", "/orders", "200"),
        ("GET", "/orders/{order_id}", "200"),
        ("GET", "unmatched", "404"),
    ]:
        assert requests(after, method, route, status) - requests(before, method, route, status) == 1
    latency = "workorders_http_request_duration_seconds_count"
    labels = {"method": "POST", "route": "/orders", "status": "201"}
    assert sample(after, latency, **labels) - sample(before, latency, **labels) == 1
    assert order_id not in text  # an order id is never a label
    assert "process_cpu_seconds_total" in text


async def test_the_metrics_are_not_in_the_api_docs(system: System) -> None:
    schema = (await system.http.get("/openapi.json")).json()
    assert "/metrics" not in schema["paths"]
