"""POST /imports/{kind}: the operator's files through the API, for operations only."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from api import create_app
from tests.api.conftest import BareApi, System
from tests.api.test_addresses import beijing_order
from tests.api.test_console_field import console
from tests.api.test_orders import assigned, construction, create, report, wait_for
from workorders import cli, ops
from workorders.auth import Role, issue_token
from workorders.config import Settings
from workorders.db import Database
from workorders.reference import load_catalog
from workorders.store import Stores


def technicians_csv(*ids: str) -> str:
    rows = "".join(f"{i},张伟 {n},haidian,fibre,false\n" for n, i in enumerate(ids))
    return "id,name,regions,skills,active\n" + rows


def new_id() -> str:
    return f"tech-{uuid.uuid4().hex[:8]}"


async def technician_names(bare: BareApi) -> dict[str, str]:
    listed = await bare.http.get("/technicians", headers=bare.auth(Role.OPERATIONS, "ops"))
    return {t["id"]: t["name"] for t in listed.json()}


async def post(
    bare: BareApi,
    text: str,
    media: str = "text/csv",
    kind: str = "technicians",
    role: Role = Role.OPERATIONS,
    **params: str,
) -> dict[str, Any]:
    response = await bare.http.post(
        f"/imports/{kind}",
        content=text.encode(),
        params=params,
        headers={**bare.auth(role, "someone"), "Content-Type": media},
    )
    return {
        "status": response.status_code,
        "body": response.json(),
        "type": response.headers["content-type"],
    }


async def test_a_dry_run_then_the_import_then_the_same_file_again(bare: BareApi) -> None:
    a, b = new_id(), new_id()
    text = technicians_csv(a, b)

    dry = await post(bare, text, dry_run="true")
    done = await post(bare, text)
    again = await post(bare, text)

    assert (dry["status"], dry["body"]["dry_run"], dry["body"]["added"]) == (200, True, [a, b])
    assert (done["body"]["dry_run"], done["body"]["added"]) == (False, [a, b])
    assert (again["body"]["added"], again["body"]["unchanged"]) == ([], [a, b])
    assert (await technician_names(bare))[a] == "张伟 0"


async def test_a_change_is_reported_field_by_field(bare: BareApi) -> None:
    a = new_id()
    await post(bare, technicians_csv(a))

    changed = await post(
        bare,
        f"[[technicians]]\nid='{a}'\nname='王芳'\nregions=['haidian']\nskills=['fibre']\nactive=false\n",
        "application/toml",
    )

    assert changed["body"]["changed"] == [
        {"id": a, "changes": [{"field": "name", "before": "张伟 0", "after": "王芳"}]}
    ]


async def test_one_bad_row_changes_nothing_and_every_error_is_named(bare: BareApi) -> None:
    good, bad = new_id(), new_id()
    text = technicians_csv(good) + f"{bad},Zhao,mars,laser,false\n"

    refused = await post(bare, text)

    assert (refused["status"], refused["type"]) == (422, "application/problem+json")
    assert refused["body"]["code"] == "IMPORT_REFUSED"
    assert [e["location"] for e in refused["body"]["errors"]] == [[3, "skills.0"]]
    assert good not in await technician_names(bare)


@pytest.mark.parametrize("media", ["application/json", "application/vnd.ms-excel", ""])
async def test_another_format_is_a_415(bare: BareApi, media: str) -> None:
    refused = await post(bare, technicians_csv(new_id()), media)
    assert (refused["status"], refused["body"]["code"]) == (415, "UNSUPPORTED_FILE")


async def test_a_file_that_is_not_utf8_is_a_422(bare: BareApi) -> None:
    response = await bare.http.post(
        "/imports/inventory",
        content=b"id,region\n\xff\xfe,x\n",
        headers={**bare.auth(Role.OPERATIONS, "ops"), "Content-Type": "text/csv"},
    )
    assert response.status_code == 422
    assert "UTF-8" in response.json()["detail"]
    assert response.json()["code"] == "IMPORT_REFUSED"
    assert [e["location"] for e in response.json()["errors"]] == [[2]]


@pytest.mark.parametrize("kind", ["regions", "technicians", "inventory"])
@pytest.mark.parametrize(
    "text", ["\r", "id,name\r", '\u2028a\ra"', 'id,region\n1,"x\ry\n', '\x85id"]\r\x85']
)
async def test_a_file_of_odd_line_ends_is_a_422_naming_the_line(
    bare: BareApi, kind: str, text: str
) -> None:
    refused = await post(bare, text, kind=kind, dry_run="true")
    assert (refused["status"], refused["body"]["code"]) == (422, "IMPORT_REFUSED")
    assert all(isinstance(e["location"][0], int) for e in refused["body"]["errors"])


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.TECHNICIAN])
async def test_only_operations_import(bare: BareApi, role: Role) -> None:
    response = await bare.http.post(
        "/imports/technicians",
        content=technicians_csv(new_id()).encode(),
        headers={**bare.auth(role, "someone"), "Content-Type": "text/csv"},
    )
    assert response.status_code == 403


async def test_an_unknown_kind_is_a_422(bare: BareApi) -> None:
    response = await bare.http.post(
        "/imports/customers",
        content=b"id\n1\n",
        headers={**bare.auth(Role.OPERATIONS, "ops"), "Content-Type": "text/csv"},
    )
    assert response.status_code == 422


def regions_toml(*codes: str, remove: bool = False, district: str | None = None) -> str:
    """Beijing regions, each of a district of its own unless ``district`` is given."""
    return "".join(
        f"""
[[regions]]
id = "{code}"
name = "{code} 区"
country = "CN"
province = "北京市"
city = "北京市"
districts = ["{district or code + "区"}"]
vlan_low = 2100
vlan_high = 2199
installation_hours = 48
jeopardy_hours = 24
test_servers = ["speedtest-bj-core-1"]
remove = {str(remove).lower()}
"""
        for code in codes
    )


def new_region() -> str:
    return f"region-{uuid.uuid4().hex[:8]}"


async def inventory_of(bare: BareApi, region: str) -> int:
    response = await bare.http.get(
        f"/regions/{region}/inventory", headers=bare.auth(Role.OPERATIONS, "ops")
    )
    return response.status_code


async def test_regions_a_dry_run_then_the_import_then_the_same_file_again(bare: BareApi) -> None:
    a, b = new_region(), new_region()
    text = regions_toml(a, b)

    dry = await post(bare, text, "application/toml", "regions", dry_run="true")
    unknown = await inventory_of(bare, a)
    done = await post(bare, text, "application/toml", "regions")
    again = await post(bare, text, "application/toml", "regions")

    assert (dry["status"], dry["body"]["dry_run"], dry["body"]["added"]) == (200, True, [a, b])
    assert unknown == 404
    assert (done["body"]["kind"], done["body"]["added"]) == ("regions", [a, b])
    assert (again["body"]["added"], again["body"]["unchanged"]) == ([], [a, b])
    # The new regions are known at once: their inventory, technicians naming them.
    assert await inventory_of(bare, a) == 200
    tech = new_id()
    technicians = await post(bare, f"id,name,regions,skills\n{tech},赵敏,{a};{b},fibre\n")
    assert (technicians["status"], technicians["body"]["added"]) == (200, [tech])


async def test_a_region_file_with_one_bad_row_is_a_422_naming_line_and_field(
    bare: BareApi,
) -> None:
    good, taken, bad = new_region(), new_region(), new_region()
    text = regions_toml(good) + regions_toml(taken, district="海淀区")
    csv = (
        "id,name,country,districts,vlan_low,vlan_high,test_servers\n"
        f"{bad},B,CN,某区,2200,2100,speedtest-bj-core-1\n"
    )

    overlap = await post(bare, text, "application/toml", "regions")
    wrong = await post(bare, csv, "text/csv", "regions")

    assert (overlap["status"], overlap["body"]["code"]) == (422, "IMPORT_REFUSED")
    assert [e["location"] for e in overlap["body"]["errors"]] == [[2, "districts"]]
    assert "haidian" in overlap["body"]["errors"][0]["message"]
    assert [e["location"] for e in wrong["body"]["errors"]] == [
        [2, "vlan_high"],
        [2, "province"],
        [2, "city"],
    ]
    assert await inventory_of(bare, good) == 404  # nothing of either file was stored


async def test_a_region_in_use_is_a_422_and_stays(bare: BareApi) -> None:
    a = new_region()
    await post(bare, regions_toml(a), "application/toml", "regions")
    await post(bare, f"id,name,regions,skills,active\n{new_id()},王芳,{a},fibre,false\n")

    refused = await post(bare, regions_toml(a, remove=True), "application/toml", "regions")

    assert (refused["status"], refused["body"]["title"]) == (422, "Region in use")
    assert [e["location"] for e in refused["body"]["errors"]] == [[1, "remove"]]
    assert "technicians" in refused["body"]["errors"][0]["message"]
    assert await inventory_of(bare, a) == 200


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.TECHNICIAN])
async def test_only_operations_import_regions(bare: BareApi, role: Role) -> None:
    a = new_region()
    refused = await post(bare, regions_toml(a), "application/toml", "regions", role=role)
    assert refused["status"] == 403
    assert await inventory_of(bare, a) == 404


@pytest.fixture
def api_for_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The command's (synchronous) client talks to the API app on a database of its own,
    run on an event loop in another thread, as a server would."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=30)

    url = f"sqlite:///{tmp_path / 'workorders.db'}"
    db = Database.from_url(url)
    run(db.migrate())
    settings = Settings(_env_file=None, database_url=url)
    app = create_app(settings)
    app.state.settings, app.state.stores = settings, Stores.of(db)
    app.state.regions, app.state.catalog = app.state.stores.regions, load_catalog()
    token = issue_token(settings, Role.OPERATIONS, "ops")
    asgi = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")

    def forward(request: httpx.Request) -> httpx.Response:
        async def send() -> httpx.Response:
            response = await asgi.send(request)
            await response.aread()
            return response

        answer: httpx.Response = run(send())
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    monkeypatch.setattr(ops.console, "width", 400)  # no wrapping of the text under test
    monkeypatch.setattr(
        ops,
        "_client",
        lambda _: httpx.Client(
            base_url="http://api",
            transport=httpx.MockTransport(forward),
            headers={"Authorization": f"Bearer {token}"},
        ),
    )
    yield
    run(asgi.aclose())
    run(db.dispose())
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


@pytest.mark.usefixtures("api_for_the_command")
def test_the_command_sends_the_file_and_prints_every_error_or_change(tmp_path: Path) -> None:
    good = tmp_path / "technicians.csv"
    good.write_text(technicians_csv("tech-cli-1"), encoding="utf-8")
    bad = tmp_path / "olts.toml"
    bad.write_text("[[olts]]\nid = 'olt-[/bold]'\nregion = 'haidian'\n", encoding="utf-8")
    runner = CliRunner()

    dry = runner.invoke(cli.app, ["import", "technicians", str(good), "--dry-run"])
    done = runner.invoke(cli.app, ["import", "technicians", str(good)])
    again = runner.invoke(cli.app, ["import", "technicians", str(good)])
    refused = runner.invoke(cli.app, ["import", "inventory", str(bad)])
    other = runner.invoke(cli.app, ["import", "inventory", str(tmp_path / "x.xlsx")])

    assert dry.exit_code == 0 and "+ tech-cli-1" in dry.output
    assert "1 added, 0 changed, 0 removed would be; 0 already so" in dry.output
    assert "1 added, 0 changed, 0 removed were; 0 already so" in done.output
    assert "0 added, 0 changed, 0 removed were; 1 already so" in again.output
    assert refused.exit_code == 1, refused.output
    assert "nothing was changed" in refused.output
    assert "line 1, id:" in refused.output and "line 1, pon_ports:" in refused.output
    assert other.exit_code == 2  # typer: the file does not exist


@pytest.mark.usefixtures("api_for_the_command")
def test_the_command_imports_regions(tmp_path: Path) -> None:
    examples = Path(__file__).parents[2] / "docs" / "examples"
    clash = tmp_path / "regions.csv"
    clash.write_text(
        "id,name,country,postcode_prefixes,vlan_low,vlan_high,test_servers\n"
        "north2,North 2,DE,1015,500,599,speedtest-core-1\n",
        encoding="utf-8",
    )
    runner = CliRunner()

    dry = runner.invoke(cli.app, ["import", "regions", str(examples / "regions.toml"), "--dry-run"])
    done = runner.invoke(cli.app, ["import", "regions", str(examples / "regions.toml")])
    csv = runner.invoke(cli.app, ["import", "regions", str(examples / "regions.csv")])
    refused = runner.invoke(cli.app, ["import", "regions", str(clash)])

    assert dry.exit_code == 0 and "+ shijingshan" in dry.output and "+ tongzhou" in dry.output
    assert "2 added, 0 changed, 0 removed would be; 0 already so" in dry.output
    assert "2 added, 0 changed, 0 removed were; 0 already so" in done.output
    assert "2 added, 0 changed, 0 removed were" in csv.output
    assert refused.exit_code == 1 and "nothing was changed" in refused.output
    assert (
        "line 2, postcode_prefixes:" in refused.output and "'101' of region north" in refused.output
    )


async def test_an_imported_region_places_installs_and_activates_an_order(system: System) -> None:
    """The region, its OLT and its technician imported through the API; the worker (with
    regions of its own, as another process has) installs and activates in it."""
    code = new_region()
    district = f"{code}区"
    ops = {"Content-Type": "application/toml"}
    body = beijing_order(district)

    before = await system.http.post("/orders", json=body)
    for kind, text in (
        ("regions", regions_toml(code).replace("2100", "2300").replace("2199", "2399")),
        (
            "inventory",
            f"[[olts]]\nid='olt-{code}'\nregion='{code}'\npon_ports=2\n"
            "vlan_low=2300\nvlan_high=2399\n",
        ),
        (
            "technicians",
            f"[[technicians]]\nid='tech-{code}'\nname='钱进'\nregions=['{code}']\n"
            "skills=['fibre']\n",
        ),
    ):
        imported = await system.http.post(f"/imports/{kind}", content=text.encode(), headers=ops)
        assert imported.status_code == 200, imported.text
    order = await create(system, body)

    assert before.status_code == 422 and district in before.json()["detail"]
    assert order["region"] == code
    technician = await assigned(system, order["id"])
    assert technician == f"tech-{code}"
    async with console(system, Role.OPERATIONS) as operations:  # the board of the region
        board = await operations.get(f"/console/board?region={code}")
    assert board.status_code == 200 and f'data-technician="{technician}"' in board.text
    assert body["external_reference"] in board.text
    placed = await wait_for(system, order["id"], lambda o: construction(o).get("due_at"))
    due = datetime.fromisoformat(construction(placed)["due_at"])
    assert timedelta(hours=47) < due - datetime.now(UTC) <= timedelta(hours=48)
    for state in ("accepted", "en_route", "on_site"):
        assert (await report(system, order["id"], technician, state)).status_code == 200
    done = await report(system, order["id"], technician, "completed", ont_serial="HWTC0CN22")
    assert done.status_code == 200, done.text
    finished = await wait_for(system, order["id"], lambda o: o["status"] == "completed")
    activation = next(t for t in finished["sub_tasks"] if t["kind"] == "activation")
    assert activation["data"]["olt_id"] == f"olt-{code}"
    assert 2300 <= activation["data"]["vlan"] <= 2399
