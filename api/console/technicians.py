"""Operations manage technicians from a page: each one's regions, skills, job limit,
open jobs and whether they take new jobs; add one; change one. The forms are checked
by the API's own models (``TechnicianCreateRequest``, ``TechnicianUpdateRequest``) and
carried out by :mod:`api.staffing`, as ``POST``/``PATCH /technicians`` are, so queued
jobs go to a technician who has room at once."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from api import staffing
from api.console import i18n
from api.console.session import SignedIn
from api.console.web import form_data, language_of, render, require
from api.deps import CatalogDep, RegionsDep, TechniciansDep, WakeDep
from api.errors import ProblemError
from models.api import Skill, TechnicianCreateRequest, TechnicianUpdateRequest
from workorders.auth import Principal, Role
from workorders.reference import Regions
from workorders.store import TechnicianStore

router = APIRouter(prefix="/console/technicians", include_in_schema=False)

SKILLS: tuple[Skill, ...] = ("fibre", "copper")


def _fields(form: FormData, *, new: bool) -> dict[str, Any]:
    """The form as the API's JSON body: the checked regions and skills as lists, the job
    limit a number when it is written in digits (else as given, which the model refuses
    with its own message)."""
    limit = str(form.get("max_open_jobs", "")).strip()
    body: dict[str, Any] = {
        "name": str(form.get("name", "")).strip(),
        "regions": [str(r) for r in form.getlist("regions")],
        "skills": [str(s) for s in form.getlist("skills")],
        "max_open_jobs": int(limit) if limit.isdecimal() else limit,
    }
    if new:
        body["id"] = str(form.get("id", "")).strip()
    if "active" in form:
        body["active"] = form["active"] == "1"
    return body


def _by_field(errors: dict[str, str]) -> dict[str, str]:
    """Errors at the form's fields: a list item's (``skills.0``) is its list's."""
    found: dict[str, str] = {}
    for where, message in errors.items():
        found.setdefault(where.split(".")[0], message)
    return found


async def _page(
    request: Request,
    principal: Principal,
    technicians: TechnicianStore,
    regions: Regions,
    region: str = "",
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    require(principal, Role.OPERATIONS)
    return render(
        request,
        "technicians.html",
        principal,
        status_code,
        technicians=await technicians.list_technicians(region or None),
        regions=regions,
        region=region,
        skills=SKILLS,
        **({"values": {}, "errors": {}, "failed": None} | context),
    )


@router.get("", response_class=HTMLResponse)
async def technicians_page(
    request: Request,
    principal: SignedIn,
    technicians: TechniciansDep,
    regions: RegionsDep,
    region: Annotated[str, Query(max_length=50)] = "",
) -> HTMLResponse:
    return await _page(request, principal, technicians, regions, region)


@router.post("", response_class=HTMLResponse)
async def add_technician(
    request: Request,
    principal: SignedIn,
    technicians: TechniciansDep,
    regions: RegionsDep,
    catalog: CatalogDep,
    wake: WakeDep,
) -> Response:
    require(principal, Role.OPERATIONS)
    values = _fields(await form_data(request), new=True)
    try:
        body = TechnicianCreateRequest.model_validate_json(json.dumps(values))
        await staffing.add_technician(
            body, technicians=technicians, regions=regions, catalog=catalog, wake=wake
        )
    except ValidationError as e:
        errors = _by_field(i18n.field_errors(language_of(request), e))
        return await _page(
            request, principal, technicians, regions, status_code=422, values=values, errors=errors
        )
    except ProblemError as e:  # the id is taken, a region unknown
        errors = {"id" if e.status == 409 else "regions": i18n.refusal(language_of(request), e)}
        return await _page(
            request,
            principal,
            technicians,
            regions,
            status_code=e.status,
            values=values,
            errors=errors,
        )
    return RedirectResponse("/console/technicians", status_code=303)


@router.post("/{technician_id}", response_class=HTMLResponse)
async def change_technician(
    request: Request,
    technician_id: str,
    principal: SignedIn,
    technicians: TechniciansDep,
    regions: RegionsDep,
    catalog: CatalogDep,
    wake: WakeDep,
) -> Response:
    """The row's form: every field as the row shows it, so what is sent is what the
    technician becomes; ``active`` alone (the row's switch) changes only that."""
    require(principal, Role.OPERATIONS)
    form = await form_data(request)
    switch = "name" not in form
    values = {"active": form.get("active") == "1"} if switch else _fields(form, new=False)
    region = str(form.get("region", ""))
    try:
        body = TechnicianUpdateRequest.model_validate_json(json.dumps(values))
        await staffing.change_technician(
            technician_id,
            body,
            technicians=technicians,
            regions=regions,
            catalog=catalog,
            wake=wake,
        )
    except ValidationError as e:
        errors = _by_field(i18n.field_errors(language_of(request), e))
    except ProblemError as e:
        if e.status == 404:
            raise
        errors = {"regions": i18n.refusal(language_of(request), e)}
    else:
        return RedirectResponse(f"/console/technicians?region={quote(region)}", status_code=303)
    return await _page(
        request,
        principal,
        technicians,
        regions,
        region,
        status_code=422,
        values=values,
        errors=errors,
        failed=technician_id,
    )
