"""``workorders demo``: orders driven through the HTTP API as real parties would.

A client (the front desk) creates the orders; every technician works their own
queue (``GET /technicians/{id}/jobs``), one step at a time from accepted to completed.
Asked for such cases, some customers are absent at the first visit (the technician
comes back, the order completes) or decline on site (the order fails). An operator
(the operations role) looks after the orders handed to operations: an activation or a
quality check whose revisions ran out is tried again with data planned anew from the
history, as an operator would after a rough day in the network. The demo waits until
every order has ended, prints one summary line and exits non-zero when any order did
not end as expected.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console

console = Console(stderr=True)

NEXT_STEP = {
    "assigned": "accepted",
    "accepted": "en_route",
    "en_route": "on_site",
    "on_site": "completed",
}
FINAL = ("completed", "failed")

DISTRICTS = {
    "海淀区": (["中关村大街", "学院路", "知春路", "海淀大街"], ["100080", "100083", "100190"]),
    "朝阳区": (["建国路", "朝阳北路", "望京街", "东三环中路"], ["100020", "100025", "100102"]),
    "东城区": (["东长安街", "王府井大街", "东直门内大街"], ["100005", "100006", "100010"]),
    "西城区": (["西长安街", "金融大街", "德胜门外大街"], ["100032", "100033", "100045"]),
    "丰台区": (["丰台路", "南三环西路", "科学城路"], ["100070", "100071", "100078"]),
}
"""Beijing's districts the operator serves, with some of their streets and postcodes."""
NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨帆", "赵敏", "王小明"]
DEMANDS = [
    ("FTTH", 100, 50),
    ("FTTH", 300, 100),
    ("FTTH", 500, 200),
    ("FTTH", 1000, 500),
    ("VDSL", 50, 10),
    ("VDSL", 100, 40),
]


TokenFor = Callable[[str, str], str]
"""A bearer token for a role and a name (``"technician", "tech-north-1"``)."""


@dataclass(frozen=True)
class DemoConfig:
    api_url: str
    orders: int
    token_for: TokenFor
    cannot_complete: int = 0
    """Customers who decline on site: their orders are expected to fail."""
    absent: int = 0
    """Customers absent at the first visit: visited again, their orders complete."""
    timeout_s: float = 600
    seed: int = 7
    poll_s: float = 0.25
    operator_retries: int = 3
    """How often the operator retries one order's activation or quality check handed to
    operations (0: nobody looks after them, and such an order stays unfinished)."""


@dataclass
class Run:
    config: DemoConfig
    rng: random.Random
    order_ids: list[str] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    absent: set[str] = field(default_factory=set)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    retried: Counter[tuple[str, str]] = field(default_factory=Counter)
    """The operator's retries, by order and sub-task."""

    def auth(self, role: str, name: str) -> dict[str, str]:
        """The header that identifies a party to the API."""
        return {"Authorization": f"Bearer {self.config.token_for(role, name)}"}


def beijing_address(rng: random.Random) -> dict[str, str]:
    """An address in one of Beijing's served districts, some with building and room."""
    district = rng.choice(sorted(DISTRICTS))
    streets, postcodes = DISTRICTS[district]
    address = {
        "country": "CN",
        "province": "北京市",
        "city": "北京市",
        "district": district,
        "street": rng.choice(streets),
        "house_number": f"{rng.randrange(1, 300)}号",
        "postcode": rng.choice(postcodes),
    }
    if rng.random() < 0.7:
        address["building"] = f"{rng.randrange(1, 20)}号楼"
        address["unit"] = f"{rng.randrange(1, 6)}单元"
        address["room"] = f"{rng.randrange(1, 30)}{rng.randrange(1, 5):02d}室"
    return address


def order_request(rng: random.Random, reference: str) -> dict[str, Any]:
    service, down, up = rng.choice(DEMANDS)
    return {
        "external_reference": reference,
        "channel": rng.choice(["front_desk", "crm", "web_shop"]),
        "customer": {
            "name": rng.choice(NAMES),
            "phone": f"+86 138 {rng.randrange(10**4):04d} {rng.randrange(10**4):04d}",
        },
        "address": beijing_address(rng),
        "demand": {"service_type": service, "download_mbps": down, "upload_mbps": up},
    }


async def _create(client: httpx.AsyncClient, run: Run, prefix: str, index: int) -> str:
    response = await client.post(
        "/orders",
        json=order_request(run.rng, f"{prefix}-{index:05d}"),
        headers=run.auth("front_desk", "demo-front-desk"),
    )
    response.raise_for_status()
    order_id: str = response.json()["id"]
    return order_id


async def _technician(client: httpx.AsyncClient, run: Run, technician_id: str) -> None:
    """Work one technician's queue until the demo ends, with their own token."""
    auth = run.auth("technician", technician_id)
    while not run.done.is_set():
        try:
            response = await client.get(f"/technicians/{technician_id}/jobs", headers=auth)
        except httpx.TransportError:  # no answer (the connection dropped): look again
            await asyncio.sleep(run.config.poll_s)
            continue
        response.raise_for_status()
        for job in response.json():
            if job["order_id"] not in run.order_ids:
                continue  # not this demo's order
            state = job["job_state"]
            if job["order_id"] in run.absent and state == "on_site" and job["visit"] == 1:
                report = {
                    "state": "cannot_complete",
                    "reason_code": "customer_absent",
                    "note": "nobody home, will come back (demo)",
                }
            elif job["order_id"] in run.refuse and state == "on_site":
                report = {
                    "state": "cannot_complete",
                    "reason_code": "customer_declined",
                    "note": "the customer changed their mind (demo)",
                }
            elif state in NEXT_STEP:
                report = {"state": NEXT_STEP[state]}
                if report["state"] == "completed":
                    report["ont_serial"] = f"DEMO{run.rng.randrange(16**8):08X}"
            else:
                continue
            try:
                reply = await client.post(
                    f"/orders/{job['order_id']}/construction/reports",
                    json=report,
                    headers=auth,
                )
            except httpx.TransportError:
                # No answer: the workflow is slow to take it (a worker died and its task
                # waits for a timeout), or the connection dropped. A technician's app
                # tries again; a report that did land meanwhile answers 409 then.
                continue
            if reply.status_code not in (200, 409):  # 409: the job moved on meanwhile
                reply.raise_for_status()
        await asyncio.sleep(run.config.poll_s)


async def _statuses(client: httpx.AsyncClient, run: Run) -> dict[str, dict[str, Any]]:
    auth = run.auth("front_desk", "demo-front-desk")
    replies = await asyncio.gather(
        *(client.get(f"/orders/{oid}", headers=auth) for oid in run.order_ids)
    )
    for reply in replies:
        reply.raise_for_status()
    return {r.json()["id"]: r.json() for r in replies}


NETWORK_TASKS = ("activation", "quality_check")


async def _operate(client: httpx.AsyncClient, run: Run, orders: dict[str, dict[str, Any]]) -> None:
    """The operator retries what waits for them, with data planned anew."""
    auth = run.auth("operations", "demo-operator")
    for order in orders.values():
        if order["status"] != "waiting_for_operations":
            continue
        for task in order["sub_tasks"]:
            key = (order["id"], task["kind"])
            if (
                task["kind"] not in NETWORK_TASKS
                or task["status"] != "waiting_for_operations"
                or run.retried[key] >= run.config.operator_retries
            ):
                continue
            try:
                reply = await client.post(
                    f"/orders/{order['id']}/{task['kind']}/operations",
                    json={"action": "retry"},
                    headers=auth,
                )
            except httpx.TransportError:
                continue  # no answer: looked at again at the next round
            if reply.status_code == 200:
                run.retried[key] += 1
            elif reply.status_code != 409:  # 409: it stopped waiting meanwhile
                reply.raise_for_status()


async def run_demo(config: DemoConfig) -> int:
    run = Run(config, random.Random(config.seed))
    prefix = f"demo-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(base_url=config.api_url, timeout=30, limits=limits) as client:
        listing = await client.get("/technicians", headers=run.auth("operations", "demo"))
        technicians = listing.raise_for_status().json()
        creating = [_create(client, run, prefix, i) for i in range(config.orders)]
        run.order_ids = list(await asyncio.gather(*creating))
        chosen = run.rng.sample(run.order_ids, config.cannot_complete + config.absent)
        run.refuse = set(chosen[: config.cannot_complete])
        run.absent = set(chosen[config.cannot_complete :])
        console.print(f"created {len(run.order_ids)} orders ({prefix}-*); technicians at work")
        workers = [asyncio.create_task(_technician(client, run, t["id"])) for t in technicians]
        orders: dict[str, dict[str, Any]] = {}
        try:
            while time.monotonic() - started < config.timeout_s:
                try:
                    orders = await _statuses(client, run)
                except httpx.TransportError:  # no answer (slow, or the connection
                    await asyncio.sleep(0.5)  # dropped): the orders are read again
                    continue
                if all(o["status"] in FINAL for o in orders.values()):
                    break
                await _operate(client, run, orders)
                for task in workers:
                    if task.done() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
                await asyncio.sleep(0.5)
        finally:
            run.done.set()
            await asyncio.gather(*workers, return_exceptions=True)

    elapsed = time.monotonic() - started
    counts = Counter(o["status"] for o in orders.values())
    retries: Counter[str] = Counter()
    for order in orders.values():
        for task in order["sub_tasks"]:
            retries[task["kind"]] += max(0, task["attempts"] - 1)
    unexpected = [
        oid
        for oid, o in orders.items()
        if o["status"] != ("failed" if oid in run.refuse else "completed")
    ]
    print(
        f"orders={config.orders} completed={counts['completed']} failed={counts['failed']}"
        f" unfinished={config.orders - counts['completed'] - counts['failed']}"
        f" expected_failed={len(run.refuse)} unexpected={len(unexpected)}"
        f" activation_retries={retries['activation']}"
        f" quality_check_retries={retries['quality_check']}"
        f" operator_retries={run.retried.total()}"
        f" elapsed_s={elapsed:.1f}"
    )
    for oid in unexpected[:10]:
        o = orders[oid]
        console.print(f"[red]unexpected[/] {oid}: {o['status']} {o.get('status_reason') or ''}")
    return 1 if unexpected else 0
