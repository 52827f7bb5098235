"""The ``workorders`` command."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Annotated

import typer

from workorders.auth import Role
from workorders.config import get_settings
from workorders.logs import configure_logging
from workorders.process import freeze_startup_objects

app = typer.Typer(
    help="Broadband work orders: construction, activation and quality check in parallel.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def up() -> None:
    """Start the whole system: Temporal dev server and UI, worker, API."""
    from workorders.up import up as run_up

    configure_logging(get_settings())
    raise typer.Exit(run_up(get_settings()))


@app.command()
def migrate() -> None:
    """Bring the database to the newest migration and add the shipped technicians and
    OLTs; safe to repeat. Run once before the worker and the API start."""
    from workorders.startup import migrate as run_migrate

    settings = get_settings()
    configure_logging(settings)
    asyncio.run(run_migrate(settings))
    logging.getLogger("workorders.migrate").info("database at the newest migration")


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Defaults to WORKORDERS_API_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Defaults to WORKORDERS_API_PORT.")] = None,
) -> None:
    """Serve the HTTP API."""
    import uvicorn

    from api import create_app
    from workorders.auth import development_credentials
    from workorders.reference import load_regions

    settings = get_settings()
    configure_logging(settings)
    technicians = [t.id for region in load_regions() for t in region.technicians]
    if sys.stdout.isatty():  # never into a log file (`workorders up` shows them itself)
        for line in development_credentials(settings, technicians):
            print(line)
    application = create_app(settings)
    freeze_startup_objects()
    uvicorn.run(
        application,
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_level="info",
        log_config=None,  # uvicorn's logs go through configure_logging's handler
    )


@app.command("nms-sim")
def nms_sim(
    host: Annotated[str | None, typer.Option(help="Defaults to WORKORDERS_NMS_SIM_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Defaults to WORKORDERS_NMS_SIM_PORT.")] = None,
) -> None:
    """Serve the NMS simulator over HTTP (the protocol of docs/nms-protocol.md)."""
    import uvicorn

    from workorders.nms.server import create_nms_app
    from workorders.reference import load_catalog
    from workorders.startup import simulator as nms_simulator

    settings = get_settings()
    configure_logging(settings)
    simulator = nms_simulator(settings, load_catalog())
    application = create_nms_app(simulator)
    freeze_startup_objects()
    try:
        uvicorn.run(
            application,
            host=host or settings.nms_sim_host,
            port=port or settings.nms_sim_port,
            log_level="info",
            log_config=None,  # uvicorn's logs go through configure_logging's handler
        )
    finally:
        simulator.close()


@app.command()
def token(
    role: Annotated[Role, typer.Argument(help="front_desk, technician or operations.")],
    name: Annotated[str, typer.Argument(help="The holder; for a technician, their id.")],
    hours: Annotated[
        float | None, typer.Option(min=0.01, help="Valid this long; WORKORDERS_TOKEN_TTL_H.")
    ] = None,
) -> None:
    """Issue a bearer token for the API, signed with WORKORDERS_AUTH_SECRET."""
    from datetime import timedelta

    from workorders.auth import issue_token

    ttl = timedelta(hours=hours) if hours is not None else None
    typer.echo(issue_token(get_settings(), role, name, ttl=ttl))


@app.command()
def worker() -> None:
    """Run a Temporal worker for work-order workflows and activities."""
    import runpy

    # Run as `python -m worker` runs it: the worker's entry point, not a library.
    runpy.run_module("worker", run_name="__main__", alter_sys=True)


@app.command()
def demo(
    orders: Annotated[int, typer.Option(min=1, max=10_000, help="How many orders.")] = 20,
    cannot_complete: Annotated[
        int, typer.Option(min=0, help="How many customers decline on site (orders fail).")
    ] = 0,
    absent: Annotated[
        int, typer.Option(min=0, help="How many customers are absent at the first visit.")
    ] = 0,
    api_url: Annotated[str | None, typer.Option(help="Defaults to the configured API.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for every order.")] = 600,
    seed: Annotated[int, typer.Option(help="Seeds the customers and the technicians.")] = 7,
    operator_retries: Annotated[
        int,
        typer.Option(
            min=0,
            help="How often an operator retries one order's activation or quality check"
            " handed to operations (0: nobody does).",
        ),
    ] = 3,
) -> None:
    """Drive orders through the API as a client, the technicians and an operator would."""
    from workorders.auth import issue_token
    from workorders.demo import DemoConfig, run_demo

    settings = get_settings()
    configure_logging(settings, level=logging.WARNING)
    config = DemoConfig(
        api_url=api_url or settings.api_url,
        orders=orders,
        token_for=lambda role, name: issue_token(settings, Role(role), name),
        cannot_complete=min(cannot_complete, orders),
        absent=min(absent, orders - min(cannot_complete, orders)),
        timeout_s=timeout,
        seed=seed,
        operator_retries=operator_retries,
    )
    raise typer.Exit(asyncio.run(run_demo(config)))


def _add_operations() -> None:
    from workorders.ops import app as orders
    from workorders.ops import import_file
    from workorders.users_cli import app as users

    app.add_typer(orders, name="orders")
    app.add_typer(users, name="users")
    app.command("import")(import_file)


_add_operations()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
