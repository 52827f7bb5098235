"""The demo's orders are of Chinese customers at Beijing addresses the operator serves."""

from __future__ import annotations

import random

from models.api import OrderCreateRequest
from workorders.demo import order_request
from workorders.reference import load_regions


def test_the_demo_orders_are_taken_in_every_beijing_district() -> None:
    rng, regions = random.Random(7), load_regions()
    found = set()
    for i in range(200):
        request = OrderCreateRequest.model_validate(order_request(rng, f"demo-{i}"))
        address = request.address
        assert address.country == "CN"
        assert not request.customer.name.isascii()
        assert address.postcode is not None
        region = regions.for_address(
            "CN",
            address.postcode,
            province=address.province,
            city=address.city,
            district=address.district,
        )
        found.add(region.code)
    assert found == {r.code for r in regions if r.country == "CN"}
