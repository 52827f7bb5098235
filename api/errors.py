"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the API answers is a problem document; bad input is a 4xx with the
fields at fault, an error of the API's own a 500 that names no internals (the log has
the trace), and Temporal or the database not answering a 503 to try again.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
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
        default=None, description="The fields at fault, for 422 (of a file: its line, then field)."
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
        errors: list[FieldError] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.code = code
        self.headers = headers or {}
        self.errors = errors


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(jsonable_encoder(body), status_code=status, media_type=PROBLEM)


TMF641_BASE = "/tmf-api/serviceOrdering/v4"
"""Where the TMF641 interface is mounted; its errors are TMF ``Error`` bodies."""


def tmf_error(status: int, code: str, reason: str, message: str | None = None) -> JSONResponse:
    """A TMF630 ``Error`` body (``code``, ``reason``, ``message``, ``status``)."""
    body: dict[str, Any] = {"code": code, "reason": reason, "status": str(status)}
    if message:
        body["message"] = message
    body["@type"] = "Error"
    return JSONResponse(body, status_code=status)


def _is_tmf(request: Request) -> bool:
    return request.url.path.startswith(TMF641_BASE)


def error_for(
    path: str, status: int, title: str, detail: str | None = None, *, code: str | None = None
) -> JSONResponse:
    """The error body a client of ``path`` reads: TMF ``Error`` under the TMF641 base,
    a problem document everywhere else (for middleware, which has no route yet)."""
    if path.startswith(TMF641_BASE):
        return tmf_error(status, code or str(status), title, detail)
    return problem(status, title, detail, code=code)


async def _problem_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    if _is_tmf(request):
        response = tmf_error(exc.status, exc.code or str(exc.status), exc.title, exc.detail)
        response.headers.update(exc.headers)
        return response
    errors = [e.model_dump() for e in exc.errors] if exc.errors is not None else None
    response = problem(exc.status, exc.title, exc.detail, code=exc.code, errors=errors)
    response.headers.update(exc.headers)
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if _is_tmf(request):
        where = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return tmf_error(400, "INVALID_REQUEST", "Invalid request", where)
    errors = [
        {"location": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type")}
        for e in exc.errors()
    ]
    return problem(422, "Invalid request", "the request does not fit the schema", errors=errors)


METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> str:
    """The methods some route answers at the request's path, for a 405's ``Allow``.

    FastAPI makes a route of each method of a path, and the 405 of a method none has
    names only the methods of the first route that matched the path; this asks every
    route of the app about every method instead.
    """
    allowed = []
    for method in METHODS:
        scope = {**request.scope, "method": method}
        scope = {k: scope[k] for k in ("type", "path", "root_path", "method", "app")}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        exc.headers = {**(exc.headers or {}), "Allow": allowed_methods(request)}
    if _is_tmf(request) and exc.status_code < 500:
        response = tmf_error(exc.status_code, str(exc.status_code), str(exc.detail))
        response.headers.update(exc.headers or {})
        return response
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


DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout, ConnectionError)
"""What a database that does not answer raises: the driver cannot connect or lost its
connection (SQLAlchemy wraps pysqlite's and psycopg's errors), or the pool has none."""


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning(
        "the database does not answer: %s %s", request.method, request.url.path, exc_info=exc
    )
    response = problem(503, "Database unavailable", "the database does not answer; try again")
    response.headers["Retry-After"] = "5"
    return response


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("error answering %s %s", request.method, request.url.path, exc_info=exc)
    response = problem(500, "Internal error", "the API failed to answer; the error is logged")
    # Starlette answers an unhandled error outside every middleware: these are
    # api.middleware.SecurityHeaders' own.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _problem_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RPCError, _temporal_error)
    for error in DATABASE_UNAVAILABLE:
        app.add_exception_handler(error, _database_error)
    app.add_exception_handler(Exception, _server_error)
