"""The API's OpenAPI document: every error as a problem document, and what each
secured operation answers without a token (401) or with the wrong one (403)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.errors import PROBLEM, TMF641_BASE, Problem
from workorders.tmf641 import (
    STATE,
    CancelServiceOrderCreate,
    EventSubscriptionInput,
    ServiceOrderCreate,
)
from workorders.tmf641.events import MAX_CALLBACK

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
AUTH_RESPONSES = {
    "401": "No bearer token, or one that is not valid or has expired.",
    "403": "The token's role may not do this.",
}


REFUSALS = {
    "UNKNOWN_REGION": "a region the database has not: regions are imported while the system"
    " runs (`workorders import regions`), so the document cannot list them",
    "ADDRESS_NOT_COVERED": "an address no region of the database covers (the imported regions)",
    "TECHNICIAN_NOT_NAMED": "operations reporting without naming the technician: a"
    " technician's own token names them, and the document cannot say who asks",
    "UNKNOWN_TECHNICIAN": "a technician the database has not (technicians are added while"
    " the system runs)",
    "IMPORT_REFUSED": "a file whose rows are wrong, or that would change what is in use: the"
    " document says a file, not its columns, nor what the database holds",
    "nul_character": "a text holding U+0000, which PostgreSQL cannot store (every"
    " operation that takes a body refuses it; JSON Schema's strings allow it)",
    "window_order": "an installation window that ends before it starts: JSON Schema cannot"
    " compare two fields",
    "working_hours_order": "a stretch of working hours that ends before it starts: JSON"
    " Schema cannot compare two times",
    "NO_SUCH_SLOT": "an instant no installation slot starts at: the grid is the operator's"
    " settings (WORKORDERS_APPOINTMENT_*), in its time zone",
    "SLOT_TOO_SOON": "a slot that starts too soon after now (WORKORDERS_APPOINTMENT_LEAD_MINUTES)",
    "SLOT_TOO_FAR": "a slot further ahead than WORKORDERS_APPOINTMENT_HORIZON_DAYS",
    "ADDRESS_NEEDED": "a slot search that names neither an order nor a district or postcode:"
    " JSON Schema cannot require one of several query parameters",
    "SEARCH_TOO_FAR": "a slot search from a day beyond the booking horizon",
}
"""The 422s a request the document allows may get, by the problem's ``code`` (or its
field errors' ``type``): what depends on the database or on who asks, or what JSON
Schema cannot say. An operation names its own in ``x-refusals``,
and its 422 description says them; the schemathesis probe lets nothing else refuse a
valid request (tests/api/schemathesis_hooks.py)."""


TMF_NOT_YET_SAID = {
    "*": "which ServiceOrder_Create the mapping takes (one item, action add, the broadband"
    " specification, its characteristics) and the hub's query grammar are not in this"
    " document yet (docs/tmf641.md says them)"
}
"""The 400s of the TMF641 create and hub registration that the document does not say."""


def refusals(*codes: str) -> dict[str, Any]:
    """A 422 response's ``x-refusals``: these codes of :data:`REFUSALS`, with why."""
    return {"x-refusals": {code: REFUSALS[code] for code in codes}}


def _problem_content(response: dict[str, Any]) -> None:
    response["content"] = {PROBLEM: {"schema": PROBLEM_REF}}


TMF_PREFIX = "Tmf641"
TMF_ERROR: dict[str, Any] = {
    "type": "object",
    "description": "TMF630 Error, as the TMF641 interface answers every 4xx.",
    "required": ["code", "reason"],
    "properties": {
        "code": {"type": "string"},
        "reason": {"type": "string"},
        "message": {"type": "string"},
        "status": {"type": "string"},
        "@type": {"type": "string"},
    },
}


def tmf_body(
    model: type[ServiceOrderCreate | CancelServiceOrderCreate | EventSubscriptionInput],
) -> dict[str, Any]:
    """An ``openapi_extra`` request body of a TMF641 model (its schema in components)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{TMF_PREFIX}{model.__name__}"}
                }
            },
        }
    }


def _tmf_components(components: dict[str, Any]) -> None:
    components[f"{TMF_PREFIX}Error"] = TMF_ERROR
    for model in (ServiceOrderCreate, CancelServiceOrderCreate, EventSubscriptionInput):
        definition = model.model_json_schema(
            by_alias=True, ref_template=f"#/components/schemas/{TMF_PREFIX}{{model}}"
        )
        for name, sub in definition.pop("$defs", {}).items():
            components[f"{TMF_PREFIX}{name}"] = sub
        components[f"{TMF_PREFIX}{model.__name__}"] = definition


_PORT = r"(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
CALLBACK = rf"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@:\[\]\s]+(?::{_PORT})?(?:[/?][^#\s]*)?$"
"""A hub's callback as :func:`workorders.tmf641.events.check_callback` takes it: http or
https, a host, no credentials, no fragment, a port that is one."""


def _tmf_rules(schema: dict[str, Any]) -> None:
    """What the TMF641 interface refuses (400) that the models' schemas do not say: the
    states a list filters by, externalId, requestedCancellationDate, the callback."""
    components = schema["components"]["schemas"]
    for parameter in schema["paths"][f"{TMF641_BASE}/serviceOrder"]["get"]["parameters"]:
        if parameter["name"] == "state":
            parameter["schema"] = {"type": "string", "enum": sorted(set(STATE.values()))}
    create = components[f"{TMF_PREFIX}ServiceOrderCreate"]
    create["required"] = sorted({*create.get("required", []), "externalId"})
    create["properties"]["externalId"] = {
        "type": "string",
        "minLength": 1,
        "description": "Required here: the order's reference, which makes the request safe"
        " to repeat.",
    }
    cancel = components[f"{TMF_PREFIX}CancelServiceOrderCreate"]
    cancel["properties"]["requestedCancellationDate"] = {
        "type": "null",
        "description": "Not supported: orders are cancelled at once.",
    }
    subscription = components[f"{TMF_PREFIX}EventSubscriptionInput"]
    subscription["properties"]["callback"] = {
        "type": "string",
        "maxLength": MAX_CALLBACK,
        "pattern": CALLBACK,
        "description": "An http or https URL, without credentials or fragment.",
    }


def build(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in components["Problem"].pop("$defs", {}).items():
        components[name] = definition
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    _tmf_components(components)
    _tmf_rules(schema)
    for template, path in schema.get("paths", {}).items():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            if "{" in template:
                responses.setdefault("404", {"description": "No such resource."})
            if "requestBody" in operation:
                responses.setdefault("400", {"description": "The body is not valid JSON."})
            if operation.get("security"):
                for status, description in AUTH_RESPONSES.items():
                    responses.setdefault(status, {"description": description})
            tmf = template.startswith(TMF641_BASE)
            if tmf:
                responses.pop("422", None)
                responses.setdefault("400", {"description": "Invalid request or parameters."})
                if "requestBody" in operation and template.endswith(("/serviceOrder", "/hub")):
                    responses["400"]["x-refusals"] = TMF_NOT_YET_SAID
            if "422" in responses:
                said = responses["422"].get("description")
                if not said or said == "Validation Error":
                    said = "Invalid request: the fields at fault."
                codes = responses["422"].get("x-refusals", {})
                if codes:
                    said += " Also, however valid the request: " + "; ".join(
                        f"`{code}`, {why}" for code, why in codes.items()
                    )
                responses["422"]["description"] = said
            for status, response in responses.items():
                if status[0] in "45" and tmf:
                    ref = {"$ref": f"#/components/schemas/{TMF_PREFIX}Error"}
                    response["content"] = {"application/json": {"schema": ref}}
                elif status[0] in "45":
                    _problem_content(response)
    return schema


def install(app: FastAPI) -> None:
    """Serve :func:`build`'s document (once built, cached) at ``/openapi.json``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
