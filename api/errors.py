"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the API answers is a problem document; bad input is a 4xx with the
fields at fault, an error of the API's own a 500 that names no internals (the log has
the trace), and Temporal not answering a 503 to try again.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError, RPCStatusCode

log = logging.getLogger("workorders.api")

PROBLEM = "application/problem+json"


class FieldError(BaseModel):
    location: list[str | int] = Field(examples=[["body", "customer", "phone"]])
    message: str = Field(examples=["String should match pattern '^\\+?[0-9][0-9 \\-]{5,19}$'"])
    type: str | None = Field(default=None, examples=["string_pattern_mismatch"])


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(default="about:blank", examples=["about:blank"])
    title: str = Field(examples=["Invalid request"])
    status: int = Field(examples=[422])
    detail: str | None = Field(default=None, examples=["the request does not fit the schema"])
    code: str | None = Field(
        default=None,
        description="A machine-readable reason, where the status alone does not tell.",
        examples=["IDEMPOTENCY_KEY_CONFLICT"],
    )
    errors: list[FieldError] | None = Field(
        default=None, description="The fields at fault, for 422."
    )


class ProblemError(Exception):
    """An error the API answers with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.code = code
        self.headers = headers or {}


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(jsonable_encoder(body), status_code=status, media_type=PROBLEM)


async def _problem_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    response = problem(exc.status, exc.title, exc.detail, code=exc.code)
    response.headers.update(exc.headers)
    return response


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"location": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type")}
        for e in exc.errors()
    ]
    return problem(422, "Invalid request", "the request does not fit the schema", errors=errors)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    response = problem(exc.status_code, str(exc.detail))
    response.headers.update(exc.headers or {})
    return response


async def _temporal_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RPCError)
    if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        log.warning("Temporal does not answer: %s %s", request.method, request.url.path)
        response = problem(
            503, "Temporal unavailable", "the workflow service does not answer; try again"
        )
        response.headers["Retry-After"] = "5"
        return response
    return await _server_error(request, exc)


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("error answering %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "Internal error", "the API failed to answer; the error is logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _problem_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RPCError, _temporal_error)
    app.add_exception_handler(Exception, _server_error)
