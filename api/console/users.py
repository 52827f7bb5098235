"""Operations manage the console's users: add one (with a role, and a technician's id
for a technician), give a new password (which lifts a lockout), disable or enable.
The rules are :mod:`workorders.users`', the ones ``workorders users`` keeps."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from api.console.session import SignedIn
from api.console.web import form_of, render, require
from api.deps import TechniciansDep, UsersDep
from api.errors import ProblemError
from workorders.auth import Principal, Role
from workorders.store import UnknownUser, UserExists
from workorders.users import InvalidUser, WeakPassword, check_new_user, hash_password, locked

router = APIRouter(prefix="/console/users", include_in_schema=False)


async def _page(
    request: Request,
    principal: Principal,
    users: UsersDep,
    status_code: int = 200,
    **context: object,
) -> HTMLResponse:
    require(principal, Role.OPERATIONS)
    now = datetime.now(UTC)
    everyone = await users.list_users()
    return render(
        request,
        "users.html",
        principal,
        status_code,
        users=everyone,
        locked={u.name for u in everyone if locked(u, now)},
        roles=[r.value for r in Role],
        **({"values": {}, "error": None, "failed": None} | context),
    )


@router.get("", response_class=HTMLResponse)
async def users_page(request: Request, principal: SignedIn, users: UsersDep) -> HTMLResponse:
    return await _page(request, principal, users)


@router.post("", response_class=HTMLResponse)
async def add_user(
    request: Request, principal: SignedIn, users: UsersDep, technicians: TechniciansDep
) -> Response:
    require(principal, Role.OPERATIONS)
    form = await form_of(request)
    values = {k: form.get(k, "") for k in ("name", "role", "technician_id")}
    try:
        role = Role(values["role"])
        technician_id = values["technician_id"].strip() or None
        check_new_user(values["name"], role, technician_id)
        if technician_id and await technicians.get_technician(technician_id) is None:
            raise InvalidUser(f"no technician {technician_id}")
        hashed = await asyncio.to_thread(hash_password, form.get("password", ""))
        await users.add_user(values["name"], role, hashed, technician_id=technician_id)
    except ValueError as e:  # InvalidUser, WeakPassword, UserExists, an unknown role
        known = isinstance(e, InvalidUser | WeakPassword | UserExists)
        message = str(e) if known else f"no role {values['role']!r}"
        status = 409 if isinstance(e, UserExists) else 422
        return await _page(request, principal, users, status, values=values, error=message)
    return RedirectResponse("/console/users", status_code=303)


@router.post("/{name}/password", response_class=HTMLResponse)
async def reset_password(
    request: Request, name: str, principal: SignedIn, users: UsersDep
) -> Response:
    require(principal, Role.OPERATIONS)
    form = await form_of(request)
    try:
        hashed = await asyncio.to_thread(hash_password, form.get("password", ""))
        await users.change_user(name, password_hash=hashed)
    except WeakPassword as e:
        return await _page(request, principal, users, 422, error=str(e), failed=name)
    except UnknownUser as e:
        raise ProblemError(404, "User not found", str(e)) from None
    return RedirectResponse("/console/users", status_code=303)


@router.post("/{name}/disabled", response_class=HTMLResponse)
async def set_disabled(
    request: Request, name: str, principal: SignedIn, users: UsersDep
) -> Response:
    """Disable a user (signed out at their next click) or enable them again; nobody
    disables themself, so operations always keep someone who can undo it."""
    require(principal, Role.OPERATIONS)
    form = await form_of(request)
    disabled = form.get("disabled") == "1"
    if disabled and name == principal.subject:
        return await _page(request, principal, users, 409, error="self", failed=name)
    try:
        await users.change_user(name, disabled=disabled)
    except UnknownUser as e:
        raise ProblemError(404, "User not found", str(e)) from None
    return RedirectResponse("/console/users", status_code=303)
