"""The dispatch / operations board of a region: the jobs waiting for a technician, each
technician's jobs and load, installations in jeopardy or past their time limit, and
the sub-tasks waiting for operations with the decisions on them (assign, give up;
retry with data edited in a form validated as the API validates it, abort).

Decisions go through :mod:`api.decisions`, the code the API's operations routes run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, ValidationError

from api import decisions
from api.console import i18n
from api.console.session import SignedIn
from api.console.web import form_of, language_of, moves, render, require
from api.deps import BoardDep, OrdersDep, RegionsDep, TechniciansDep, TemporalDep
from api.errors import ProblemError
from models.api import (
    ActivationDataEdit,
    ActivationOperationRequest,
    ConstructionOperationRequest,
    QualityCheckDataEdit,
    QualityCheckOperationRequest,
)
from models.enums import SubTaskKind
from models.payloads import ConstructionOperation
from workorders.auth import Principal, Role
from workorders.reference import Regions
from workorders.store import Board, BoardStore

router = APIRouter(prefix="/console/board", include_in_schema=False)

EDITS: dict[SubTaskKind, type[BaseModel]] = {
    SubTaskKind.ACTIVATION: ActivationDataEdit,
    SubTaskKind.QUALITY_CHECK: QualityCheckDataEdit,
}
"""The data operations may edit before a retry, per network sub-task: the API's models."""
REQUESTS: dict[SubTaskKind, type[ActivationOperationRequest | QualityCheckOperationRequest]] = {
    SubTaskKind.ACTIVATION: ActivationOperationRequest,
    SubTaskKind.QUALITY_CHECK: QualityCheckOperationRequest,
}


class Boards:
    """The boards of each region as of the newest timeline line: however many
    dispatchers follow a region, each new line costs one read of its board, which they
    all share (one app per process; each process reads for its own followers); and the
    newest line's id, which every follower asks for at each wake-up, read once for all
    who ask at the same moment."""

    def __init__(self) -> None:
        self._read: dict[str, tuple[int, asyncio.Future[Board]]] = {}
        self._last_reading: asyncio.Future[int] | None = None
        self._last_next: asyncio.Future[int] | None = None

    async def last_event_id(self, store: BoardStore) -> int:
        """The newest timeline line's id, read after this call began.

        Callers at the same moment share one read. A read already under way may have
        started before what woke the caller was committed, so a caller never joins it:
        it joins the next read, which starts once that one ends."""
        if self._last_next is None:
            self._last_next = asyncio.ensure_future(self._read_last(store, self._last_reading))
        return await asyncio.shield(self._last_next)

    async def _read_last(self, store: BoardStore, under_way: asyncio.Future[int] | None) -> int:
        if under_way is not None:
            await asyncio.wait([under_way])  # its outcome is its own callers'
        # From here on this read is under way: later callers wait for the next.
        self._last_reading, self._last_next = self._last_next, None
        return await store.last_event_id()

    async def board(self, store: BoardStore, region: str, last: int) -> Board:
        """The region's board as of timeline line ``last`` or later."""
        known = self._read.get(region)
        if known is None or known[0] < last or (known[1].done() and known[1].exception()):
            future: asyncio.Future[Board] = asyncio.ensure_future(store.board(region))
            self._read[region] = known = (last, future)
        return await asyncio.shield(known[1])


def boards_of(request: Request) -> Boards:
    boards: Boards = request.app.state.boards  # made by api.console.install
    return boards


def _region(regions: Regions, region: str) -> str:
    codes = [r.code for r in regions]
    if (region and region not in codes) or not codes:
        raise ProblemError(404, "Region not found", f"no region {region or '(none imported)'}")
    return region or codes[0]


def _operations(principal: Principal) -> None:
    require(principal, Role.OPERATIONS)


async def _page(
    request: Request,
    principal: Principal,
    board: BoardDep,
    regions: Regions,
    region: str,
    template: str = "board.html",
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    _operations(principal)
    code = _region(regions, region)
    since = await boards_of(request).last_event_id(board)
    return render(
        request,
        template,
        principal,
        status_code,
        board=await boards_of(request).board(board, code, since),
        regions=[r.code for r in regions],
        since=since,
        edits={kind: list(model.model_fields) for kind, model in EDITS.items()},
        **({"failed": None, "values": {}, "errors": {}, "refusal": None} | context),
    )


@router.get("", response_class=HTMLResponse)
async def board_page(
    request: Request,
    principal: SignedIn,
    board: BoardDep,
    regions: RegionsDep,
    region: Annotated[str, Query(max_length=50)] = "",
) -> HTMLResponse:
    return await _page(request, principal, board, regions, region)


@router.get("/live", response_class=HTMLResponse)
async def board_live_part(
    request: Request,
    principal: SignedIn,
    board: BoardDep,
    regions: RegionsDep,
    region: Annotated[str, Query(max_length=50)] = "",
) -> HTMLResponse:
    """The board alone: what the page reads again when the region moved."""
    return await _page(request, principal, board, regions, region, "_board_live.html")


@router.get("/events", response_class=EventSourceResponse)
async def board_events(
    request: Request,
    principal: SignedIn,
    board: BoardDep,
    regions: RegionsDep,
    region: Annotated[str, Query(max_length=50)] = "",
    since: Annotated[int, Query(ge=0)] = 0,
) -> AsyncIterator[ServerSentEvent]:
    """An event each time the region's board changed."""
    _operations(principal)
    code = _region(regions, region)

    boards = boards_of(request)

    async def read(last: int) -> object:
        return await boards.board(board, code, last)

    async def last() -> int:
        return await boards.last_event_id(board)

    async for event in moves(request, since, last, read):
        yield event


def _numbers(model: type[BaseModel], values: dict[str, str]) -> dict[str, Any]:
    """The form's text as the API's JSON: empty fields left out, numbers as numbers
    where the model wants a number (anything else is left for the model to refuse)."""
    data: dict[str, Any] = {}
    for name, value in values.items():
        if value == "":
            continue
        wanted = model.model_fields[name].annotation
        try:
            data[name] = int(value) if wanted is int else float(value) if wanted is float else value
        except ValueError:
            data[name] = value
    return data


@router.post("/{order_id}/{kind}", response_class=HTMLResponse)
async def decide(
    request: Request,
    order_id: str,
    kind: SubTaskKind,
    principal: SignedIn,
    board: BoardDep,
    regions: RegionsDep,
    orders: OrdersDep,
    technicians: TechniciansDep,
    temporal: TemporalDep,
) -> Response:
    """Operations' decision on a sub-task waiting for them, from the board; a refusal
    is shown at the sub-task, with what was typed kept."""
    _operations(principal)
    form = await form_of(request)
    region = form.get("region", "")
    action = form.get("action", "")
    values = {k: v.strip() for k, v in form.items() if k not in ("csrf", "region")}
    target = f"/console/board?region={quote(region)}#task-{order_id}-{kind.value}"
    try:
        if kind is SubTaskKind.CONSTRUCTION:
            named = ("action", "technician_id", "reason")
            operation = ConstructionOperationRequest.model_validate(
                {k: v for k, v in values.items() if k in named and v}
            )
            await decisions.operate_construction(
                order_id,
                ConstructionOperation(**operation.model_dump(), operator=principal.actor),
                orders=orders,
                technicians=technicians,
                temporal=temporal,
            )
        else:
            edit = EDITS[kind]
            body: dict[str, Any] = {"action": action}
            if values.get("reason"):
                body["reason"] = values["reason"]
            if action == "retry" and form.get("planned") != "1":
                fields = {n: values.get(f"data.{n}", "") for n in edit.model_fields}
                body["data"] = _numbers(edit, fields)
            request_model = REQUESTS[kind].model_validate_json(json.dumps(body))
            await decisions.operate_network_task(
                order_id, kind, request_model, principal, orders=orders, temporal=temporal
            )
    except ValidationError as e:
        errors = i18n.field_errors(language_of(request), e)
        if "" in errors:
            errors["action"] = errors.pop("")
        return await _page(
            request,
            principal,
            board,
            regions,
            region,
            status_code=422,
            failed=(order_id, kind),
            values=values,
            errors=errors,
        )
    except ProblemError as e:
        if e.status == 403:
            raise
        return await _page(
            request,
            principal,
            board,
            regions,
            region,
            status_code=e.status,
            failed=(order_id, kind),
            values=values,
            refusal=i18n.refusal(language_of(request), e),
        )
    return RedirectResponse(target, status_code=303)
