"""POST /imports/{kind}: the operator's files through the API, for operations only."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from api import create_app
from tests.api.conftest import BareApi
from workorders import cli, ops
from workorders.auth import Role, issue_token
from workorders.config import Settings
from workorders.db import Database
from workorders.reference import load_catalog, load_regions
from workorders.store import Stores


def technicians_csv(*ids: str) -> str:
    rows = "".join(f"{i},张伟 {n},haidian,fibre,false\n" for n, i in enumerate(ids))
    return "id,name,regions,skills,active\n" + rows


def new_id() -> str:
    return f"tech-{uuid.uuid4().hex[:8]}"


async def technician_names(bare: BareApi) -> dict[str, str]:
    listed = await bare.http.get("/technicians", headers=bare.auth(Role.OPERATIONS, "ops"))
    return {t["id"]: t["name"] for t in listed.json()}


async def post(bare: BareApi, text: str, media: str = "text/csv", **params: str) -> dict[str, Any]:
    response = await bare.http.post(
        "/imports/technicians",
        content=text.encode(),
        params=params,
        headers={**bare.auth(Role.OPERATIONS, "ops"), "Content-Type": media},
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
    app.state.regions, app.state.catalog = load_regions(), load_catalog()
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
