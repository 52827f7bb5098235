"""The TMF641 hub: a listener registers its callback (``POST /hub``) and removes it
(``DELETE /hub/{id}``); the worker process's deliverer sends it the events
(:mod:`workorders.hub`). The front desk (a CRM) manages its own registrations,
operations any. Errors are TMF ``Error`` bodies; a refused registration stores
nothing."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse

from api.deps import HubDep, SettingsDep
from api.errors import TMF641_BASE, ProblemError, tmf_error
from api.openapi import tmf_body
from api.routes.tmf641 import read_body
from api.security import FrontDeskOrOperations
from workorders.auth import Role
from workorders.tmf641 import EventSubscriptionInput
from workorders.tmf641.events import InvalidCallback, InvalidQuery, check_callback, parse_query

router = APIRouter(prefix=TMF641_BASE, tags=["TMF641 service ordering"])


@router.post(
    "/hub",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=tmf_body(EventSubscriptionInput),
    responses={201: {"description": "Subscribed: the EventSubscription."}},
)
async def register_listener(
    request: Request,
    principal: FrontDeskOrOperations,
    hub: HubDep,
    settings: SettingsDep,
) -> JSONResponse:
    """Register a listener (front desk, operations): its ``callback`` receives the
    events its ``query`` matches (``eventType=...``, ``serviceOrder.id=...``), each
    signed with ``secret`` (our extension; optional, 16 to 200 characters)."""
    body = await read_body(request, EventSubscriptionInput)
    allowed = None if settings.environment == "development" else settings.hub_allowed_hosts
    try:
        check_callback(body.callback, allowed)
    except InvalidCallback as e:
        return tmf_error(400, "INVALID_CALLBACK", "Invalid callback", str(e))
    try:
        parse_query(body.query)
    except InvalidQuery as e:
        return tmf_error(400, "INVALID_QUERY", "Invalid query", str(e))
    listener = await hub.register(body.callback, body.query, body.secret, principal.actor)
    subscription: dict[str, str] = {"id": listener.id, "callback": listener.callback}
    if listener.query is not None:
        subscription["query"] = listener.query
    return JSONResponse(
        subscription,
        status_code=status.HTTP_201_CREATED,
        headers={"Location": f"{TMF641_BASE}/hub/{listener.id}"},
    )


@router.delete(
    "/hub/{listener_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"description": "No such listener."}},
)
async def unregister_listener(
    listener_id: str, principal: FrontDeskOrOperations, hub: HubDep
) -> Response:
    """Remove a listener and what it was still to receive (the front desk its own)."""
    listener = await hub.get(listener_id)
    if listener is None:
        raise ProblemError(404, "Not found", f"no listener {listener_id}", code="NOT_FOUND")
    if principal.role is not Role.OPERATIONS and listener.owner != principal.actor:
        raise ProblemError(
            403, "Forbidden", "the listener was registered by someone else", code="FORBIDDEN"
        )
    await hub.remove(listener_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
