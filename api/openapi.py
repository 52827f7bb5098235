"""The API's OpenAPI document: every error as a problem document, and what each
secured operation answers without a token (401) or with the wrong one (403)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.errors import PROBLEM, TMF641_BASE, Problem
from workorders.tmf641 import CancelServiceOrderCreate, EventSubscriptionInput, ServiceOrderCreate

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
AUTH_RESPONSES = {
    "401": "No bearer token, or one that is not valid or has expired.",
    "403": "The token's role may not do this.",
}


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
            if "422" in responses:
                responses["422"]["description"] = "Invalid request: the fields at fault."
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
