"""``workorders orders``: the operations desk on the command line, over the HTTP API."""

from __future__ import annotations

import getpass
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from workorders.auth import Role, issue_token
from workorders.config import get_settings

app = typer.Typer(
    help="Follow work orders and decide on the ones waiting for operations.", no_args_is_help=True
)
console = Console()

STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "waiting_for_operations": "bold yellow",
    "in_progress": "cyan",
    "received": "white",
    "cancelled": "magenta",
}


def _client(api_url: str | None) -> httpx.Client:
    settings = get_settings()
    if settings.api_token is not None:
        token = settings.api_token.get_secret_value()
    else:
        token = issue_token(settings, Role.OPERATIONS, getpass.getuser(), ttl=timedelta(hours=1))
    return httpx.Client(
        base_url=api_url or settings.api_url,
        timeout=30,
        headers={"Authorization": f"Bearer {token}"},
    )


def _get(client: httpx.Client, path: str, **params: Any) -> Any:
    try:
        response = client.get(path, params={k: v for k, v in params.items() if v is not None})
    except httpx.HTTPError as e:
        raise _fail(f"the API at {client.base_url} does not answer: {e}") from e
    _check(response)
    return response.json()


def _check(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        problem = response.json()
        message = f"{problem.get('title')}: {problem.get('detail') or problem.get('errors')}"
    except ValueError:
        message = response.text
    raise _fail(f"{response.status_code} {message}")


def _fail(message: str) -> typer.Exit:
    console.print(Text(message, style="red"))
    return typer.Exit(1)


def _status(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, "white"))


def _row(table: Table, *cells: str | Text) -> None:
    """A table row whose text is shown as it is, never read as console markup."""
    table.add_row(*(Text(cell) if isinstance(cell, str) else cell for cell in cells))


def _line(*parts: str | Text) -> Text:
    """One line of what customers, colleagues or the NMS wrote and the command's own
    styling: their text is shown as it is, never read as console markup."""
    return Text(" ").join(Text(part) if isinstance(part, str) else part for part in parts)


ApiUrl = Annotated[str | None, typer.Option(help="Defaults to the configured API.")]


@app.command("list")
def list_orders(
    status: Annotated[str | None, typer.Option(help="e.g. waiting_for_operations")] = None,
    region: Annotated[str | None, typer.Option()] = None,
    technician: Annotated[str | None, typer.Option(help="Whose installation job.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Created at or after, e.g. 2026-11-25T00:00:00Z.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    cursor: Annotated[str | None, typer.Option(help="The next page's cursor.")] = None,
    api_url: ApiUrl = None,
) -> None:
    """Orders, newest first, a page at a time."""
    with _client(api_url) as client:
        page = _get(
            client,
            "/orders",
            status=status,
            region=region,
            technician=technician,
            created_from=since,
            limit=limit,
            cursor=cursor,
        )
    table = Table(title=Text(f"{len(page['items'])} of {page['total']} orders"))
    for column in ("order", "reference", "status", "region", "profile", "created"):
        table.add_column(column, no_wrap=True)
    table.add_column("reason", overflow="fold")
    for order in page["items"]:
        _row(
            table,
            order["id"],
            order["external_reference"],
            _status(order["status"]),
            order["region"],
            order["profile"],
            order["created_at"][:19].replace("T", " "),
            order.get("status_reason") or "",
        )
    console.print(table)
    if page.get("next_cursor"):
        console.print(_line("next page: --cursor", page["next_cursor"]))


@app.command()
def show(order_id: str, api_url: ApiUrl = None) -> None:
    """One order: its sub-tasks and its timeline."""
    with _client(api_url) as client:
        order = _get(client, f"/orders/{order_id}")
        history = _get(client, f"/orders/{order_id}/history")
    console.print(
        _line(
            Text(order["id"], style="bold"),
            order["external_reference"],
            _status(order["status"]),
            order["region"],
            order["profile"],
        )
    )
    if order.get("status_reason"):
        console.print(_line("", order["status_reason"]))
    tasks = Table(title="sub-tasks")
    for column in ("sub-task", "status", "attempts", "detail", "data"):
        tasks.add_column(column, overflow="fold")
    for task in order["sub_tasks"]:
        who = f" ({task['technician_id']}, {task['job_state']})" if task["technician_id"] else ""
        _row(
            tasks,
            task["kind"] + who,
            _status(task["status"]),
            str(task["attempts"]),
            task.get("detail") or "",
            json.dumps(task["data"]) if task.get("data") else "",
        )
    console.print(tasks)
    timeline = Table(title="timeline")
    for column in ("at", "who", "what", "detail"):
        timeline.add_column(column, overflow="fold")
    for event in history["events"]:
        detail = {k: v for k, v in (event.get("detail") or {}).items() if v is not None}
        _row(
            timeline,
            event["at"][:19].replace("T", " "),
            event["actor"],
            event["kind"],
            json.dumps(detail) if detail else "",
        )
    console.print(timeline)


@app.command()
def retry(
    order_id: str,
    kind: Annotated[str, typer.Option(help="activation or quality_check")] = "activation",
    data_file: Annotated[
        Path | None, typer.Option(help="JSON with the whole data of the next attempt.")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Wait until the sub-task has ended.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait at most.")] = 300,
    api_url: ApiUrl = None,
) -> None:
    """Retry an activation or a quality check that waits for operations."""
    if kind not in ("activation", "quality_check"):
        raise _fail("--kind is activation or quality_check")
    body: dict[str, Any] = {"action": "retry"}
    if data_file is not None:
        body["data"] = json.loads(data_file.read_text())
    with _client(api_url) as client:
        response = client.post(f"/orders/{order_id}/{kind}/operations", json=body)
        _check(response)
        console.print(_line(f"{kind} of", order_id + ": retrying"))
        if not wait:
            return
        deadline = time.monotonic() + timeout
        with console.status(f"waiting for the {kind} ...") as progress:
            while time.monotonic() < deadline:
                order = _get(client, f"/orders/{order_id}")
                task = next(t for t in order["sub_tasks"] if t["kind"] == kind)
                progress.update(f"{kind}: {task['status']}, attempt {task['attempts']}")
                if task["status"] in ("succeeded", "failed", "waiting_for_operations"):
                    break
                time.sleep(0.5)
    console.print(_line(kind + ":", _status(task["status"]), task.get("detail") or ""))
    if task["status"] != "succeeded":
        raise typer.Exit(1)


@app.command()
def cancel(
    order_id: str,
    reason: Annotated[str, typer.Option(help="Why; kept in the order's timeline.")],
    wait: Annotated[bool, typer.Option(help="Wait until the order is cancelled.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait at most.")] = 300,
    api_url: ApiUrl = None,
) -> None:
    """Cancel an order: withdraw the technician's job, deactivate what the NMS
    activated, and end the order cancelled."""
    with _client(api_url) as client:
        response = client.post(f"/orders/{order_id}/cancel", json={"reason": reason})
        _check(response)
        order = response.json()
        console.print(_line(order_id + ": cancellation accepted"))
        if wait:
            deadline = time.monotonic() + timeout
            with console.status("cancelling ...") as progress:
                while order["status"] != "cancelled" and time.monotonic() < deadline:
                    time.sleep(0.5)
                    order = _get(client, f"/orders/{order_id}")
                    open_tasks = [
                        t["kind"] for t in order["sub_tasks"] if t["status"] in OPEN_SUB_TASKS
                    ]
                    progress.update(f"cancelling: waiting for {', '.join(open_tasks) or 'the end'}")
    console.print(_line(order_id + ":", _status(order["status"]), order.get("status_reason") or ""))
    if wait and order["status"] != "cancelled":
        raise typer.Exit(1)


OPEN_SUB_TASKS = ("pending", "in_progress", "waiting_for_operations")


def import_file(
    kind: Annotated[str, typer.Argument(help="regions, technicians or inventory (OLTs).")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    dry_run: Annotated[bool, typer.Option(help="Show what would change; change nothing.")] = False,
    api_url: ApiUrl = None,
) -> None:
    """Regions, technicians or OLTs from a CSV or TOML file (docs/import.md): all of
    the file or, when a row is wrong, nothing; the same file twice changes nothing."""
    media = {".csv": "text/csv", ".toml": "application/toml"}.get(file.suffix.lower())
    if media is None:
        raise _fail(f"{file} is neither .csv nor .toml")
    with _client(api_url) as client:
        try:
            response = client.post(
                f"/imports/{kind}",
                content=file.read_bytes(),
                params={"dry_run": str(dry_run).lower()},
                headers={"Content-Type": media},
            )
        except httpx.HTTPError as e:
            raise _fail(f"the API at {client.base_url} does not answer: {e}") from e
    if response.status_code == 422 and response.json().get("code") == "IMPORT_REFUSED":
        problem = response.json()
        console.print(Text(f"{file}: {problem['title']}; nothing was changed", style="red"))
        for error in problem["errors"]:
            line, *field = error["location"]
            where = f"line {line}" if line else "the file"
            where += f", {field[0]}:" if field else ":"
            console.print(_line(Text(where, "bold"), error["message"]))
        raise typer.Exit(1)
    _check(response)
    report = response.json()
    verb = "would be" if report["dry_run"] else "were"
    for id_ in report["added"]:
        console.print(_line(Text("+", "green"), id_))
    for change in report["changed"]:
        fields = ", ".join(
            f"{c['field']}: {c['before']!r} → {c['after']!r}" for c in change["changes"]
        )
        console.print(_line(Text("~", "yellow"), change["id"], fields))
    for id_ in report["removed"]:
        console.print(_line(Text("-", "red"), id_))
    console.print(
        Text(
            f"{len(report['added'])} added, {len(report['changed'])} changed,"
            f" {len(report['removed'])} removed {verb}; {len(report['unchanged'])} already so"
        )
    )
