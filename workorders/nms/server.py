"""The NMS simulator as an HTTP service: the protocol of ``docs/nms-protocol.md``
served over :class:`~workorders.nms.simulator.NmsSimulator`.

A request is answered at once with a monitor (activation, deactivation) or a service
test in state ``inProgress``; the work runs in the background, taking the simulator's
latency, and ends the resource ``completed`` or ``failed``. Resources are kept in
the simulator's state, so they survive a restart, and work in progress is taken up
again at startup. ``/sim`` holds the controls for tests and operators: the faults to
inject and the counters that show what the simulated network did.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from workorders.nms import controls, tmf
from workorders.nms.base import (
    ActivationRequest,
    ActivationResponse,
    DeactivationRequest,
    DeactivationResponse,
    ServiceTestRequest,
    ServiceTestResponse,
)
from workorders.nms.simulator import Job, NmsSimulator

log = logging.getLogger("workorders.nms.server")

ACTIVATION = "activation"
DEACTIVATION = "deactivation"
SERVICE_TEST = "service_test"

REASONS = {
    "ONT_ID_IN_USE": "ONT id in use",
    "PORT_FAULTY": "PON port faulty",
    "VLAN_TAKEN": "VLAN taken",
    "UNKNOWN_PROFILE": "Profile unknown to the OLT",
    "UNKNOWN_OLT": "OLT unknown",
    "NOT_OWNER": "Service of another order",
    "LINE_NOT_READY": "Line not ready",
    "TEST_SERVER_BUSY": "Test server busy",
    "NMS_UNAVAILABLE": "NMS unavailable",
}


class NmsProblem(Exception):
    """An error the simulator answers with a TMF error body."""

    def __init__(self, status: int, code: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = tmf.TmfError(code=code, reason=reason, message=message, status=str(status))


# Work in the background


class Jobs:
    """Runs the simulator's jobs in the background, one task each."""

    def __init__(self, simulator: NmsSimulator) -> None:
        self.simulator = simulator
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, kind: str, key: str, request: BaseModel) -> tuple[Job, bool]:
        """The key's job, started if it is new; and whether it is new.

        Raises:
            NmsProblem: the key was used before for another request.
        """
        body = request.model_dump_json()
        job, created = await asyncio.to_thread(self.simulator.open_job, kind, key, body)
        if job.request != body:
            raise NmsProblem(
                422,
                "IDEMPOTENCY_KEY_REUSED",
                "Idempotency key reused",
                f"idempotency key {key!r} was used for another request",
            )
        if created:
            self.start(job)
        return job, created

    def start(self, job: Job) -> None:
        task = asyncio.create_task(self._work(job), name=f"NMS simulator job {job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def resume(self) -> None:
        """Take up the work that a stop interrupted."""
        for job in self.simulator.jobs_in_progress():
            self.start(job)

    async def aclose(self) -> None:
        """Stop the work in progress; it is taken up again at the next start."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _work(self, job: Job) -> None:
        await self.simulator.delay()
        result: BaseModel
        try:
            if job.kind == ACTIVATION:
                request = ActivationRequest.model_validate_json(job.request)
                result = await self.simulator.perform_activation(request)
            elif job.kind == DEACTIVATION:
                ending = DeactivationRequest.model_validate_json(job.request)
                result = await self.simulator.perform_deactivation(ending)
            else:
                test = ServiceTestRequest.model_validate_json(job.request)
                result = await self.simulator.perform_service_test(test)
        except Exception:
            log.exception("job %s failed inside the simulator", job.id)
            # Every kind reads this failure alike; the key is not remembered, so it can
            # be asked again.
            result = ActivationResponse(
                state="failed", error_code="NMS_UNAVAILABLE", message="the NMS failed inside"
            )
        await asyncio.to_thread(self.simulator.finish_job, job.id, result.model_dump_json())


# Jobs as TMF resources


def _error(code: str | None, message: str | None) -> tmf.TmfError:
    code = code or "UNKNOWN"
    return tmf.TmfError(code=code, reason=REASONS.get(code, code), message=message)


def monitor(job: Job) -> tmf.Monitor:
    """An activation or deactivation job as a TMF640 monitor."""
    href = f"{tmf.MONITOR_PATH}/{job.id}"
    if job.result is None:
        return tmf.Monitor(id=job.id, href=href, state=tmf.State.IN_PROGRESS)
    if job.kind == DEACTIVATION:
        ended = DeactivationResponse.model_validate_json(job.result)
        if ended.state != "completed":
            error = _error(ended.error_code, ended.message)
            return tmf.Monitor(id=job.id, href=href, state=tmf.State.FAILED, error=error)
        return tmf.Monitor(
            id=job.id, href=href, state=tmf.State.COMPLETED, description=ended.message
        )
    answer = ActivationResponse.model_validate_json(job.result)
    if answer.state != "completed" or answer.service_id is None:
        return tmf.Monitor(
            id=job.id,
            href=href,
            state=tmf.State.FAILED,
            error=_error(answer.error_code, answer.message),
        )
    request = ActivationRequest.model_validate_json(job.request)
    service = tmf.Service.model_validate(
        {
            **tmf.service_create(request).model_dump(),
            "id": answer.service_id,
            "href": f"{tmf.SERVICE_PATH}/{answer.service_id}",
        }
    )
    return tmf.Monitor(id=job.id, href=href, state=tmf.State.COMPLETED, service=service)


def service_test(job: Job) -> tmf.ServiceTest:
    """A service-test job as a TMF653 service test."""
    request = ServiceTestRequest.model_validate_json(job.request)
    test = tmf.ServiceTest.model_validate(
        {
            **tmf.service_test_create(request).model_dump(),
            "id": job.id,
            "href": f"{tmf.SERVICE_TEST_PATH}/{job.id}",
            "state": tmf.State.IN_PROGRESS,
        }
    )
    if job.result is None:
        return test
    answer = ServiceTestResponse.model_validate_json(job.result)
    if answer.state != "completed":
        error = _error(answer.error_code, answer.message)
        return test.model_copy(update={"state": tmf.State.FAILED, "error": error})
    return test.model_copy(
        update={"state": tmf.State.COMPLETED, "test_measure": tmf.measures(answer)}
    )


# Dependencies: coroutine functions, since none blocks (FastAPI would run a plain
# function in a worker thread, a thread hop per dependency per request).


async def get_jobs(request: Request) -> Jobs:
    jobs: Jobs = request.app.state.jobs
    return jobs


async def reachable(jobs: Annotated[Jobs, Depends(get_jobs)]) -> None:
    """Answer 503 as often as the outage rate says."""
    if jobs.simulator.outage():
        raise NmsProblem(
            503, "NMS_UNAVAILABLE", "NMS unavailable", "simulated outage: try again later"
        )


async def idempotency_key(
    key: Annotated[str | None, Header(alias=tmf.IDEMPOTENCY_KEY)] = None,
) -> str:
    if not key:
        raise NmsProblem(
            400,
            "IDEMPOTENCY_KEY_REQUIRED",
            "Idempotency key required",
            f"send the {tmf.IDEMPOTENCY_KEY} header",
        )
    return key


JobsDep = Annotated[Jobs, Depends(get_jobs)]
KeyDep = Annotated[str, Depends(idempotency_key)]


def invalid(error: ValueError) -> NmsProblem:
    return NmsProblem(400, "INVALID_REQUEST", "Invalid request", str(error))


def not_found(what: str, job_id: str) -> NmsProblem:
    return NmsProblem(404, "NOT_FOUND", "Not found", f"no {what} {job_id}")


# TMF640: service activation

activation = APIRouter(prefix=tmf.ACTIVATION_API, tags=["service activation (TMF640)"])


@activation.post(
    "/service",
    status_code=202,
    response_model=tmf.Monitor,
    response_model_exclude_none=True,
    dependencies=[Depends(reachable)],
)
async def create_service(
    body: tmf.ServiceCreate, key: KeyDep, jobs: JobsDep, response: Response
) -> tmf.Monitor:
    """Activate (``state: active``) or terminate (``state: terminated``) a service.

    Answers its monitor: 202 when new, 200 for a repeated key.
    """
    kind: str
    request: BaseModel
    try:
        if body.state == tmf.ACTIVE:
            kind, request = ACTIVATION, tmf.activation_request(key, body)
        elif body.state == tmf.TERMINATED:
            kind, request = DEACTIVATION, tmf.deactivation_request(key, body)
        else:
            raise ValueError(f"state: {body.state!r} is neither {tmf.ACTIVE} nor {tmf.TERMINATED}")
    except ValueError as e:
        raise invalid(e) from None
    job, created = await jobs.submit(kind, key, request)
    resource = monitor(job)
    if not created:
        response.status_code = 200
    response.headers["Location"] = resource.href
    return resource


@activation.get(
    "/monitor/{monitor_id}", response_model=tmf.Monitor, response_model_exclude_none=True
)
async def get_monitor(monitor_id: str, jobs: JobsDep) -> tmf.Monitor:
    """Follow an activation or a deactivation."""
    job = await asyncio.to_thread(jobs.simulator.job, monitor_id)
    if job is None or job.kind not in (ACTIVATION, DEACTIVATION):
        raise not_found("monitor", monitor_id)
    return monitor(job)


# TMF653: service test

testing = APIRouter(prefix=tmf.TEST_API, tags=["service test (TMF653)"])


@testing.post(
    "/serviceTest",
    status_code=202,
    response_model=tmf.ServiceTest,
    response_model_exclude_none=True,
    dependencies=[Depends(reachable)],
)
async def create_service_test(
    body: tmf.ServiceTestCreate, key: KeyDep, jobs: JobsDep, response: Response
) -> tmf.ServiceTest:
    """Measure a line. Answers the test: 202 when new, 200 for a repeated key."""
    try:
        request = tmf.service_test_request(key, body)
    except ValueError as e:
        raise invalid(e) from None
    job, created = await jobs.submit(SERVICE_TEST, key, request)
    resource = service_test(job)
    if not created:
        response.status_code = 200
    response.headers["Location"] = resource.href
    return resource


@testing.get(
    "/serviceTest/{test_id}", response_model=tmf.ServiceTest, response_model_exclude_none=True
)
async def get_service_test(test_id: str, jobs: JobsDep) -> tmf.ServiceTest:
    """Follow a service test."""
    job = await asyncio.to_thread(jobs.simulator.job, test_id)
    if job is None or job.kind != SERVICE_TEST:
        raise not_found("service test", test_id)
    return service_test(job)


# Errors as TMF error bodies


def _problem(
    status: int, error: tmf.TmfError, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = error.model_dump(mode="json", by_alias=True, exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers)


async def _nms_problem(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NmsProblem)
    headers = {"Retry-After": "1"} if exc.status == 503 else None
    return _problem(exc.status, exc.error, headers)


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = "; ".join(
        f"{'.'.join(str(part) for part in e.get('loc', ()))}: {e.get('msg', '')}"
        for e in exc.errors()
    )
    return _problem(400, invalid(ValueError(details)).error)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = str(exc.detail).upper().replace(" ", "_")
    error = tmf.TmfError(
        code=code, reason=str(exc.detail), message=str(exc.detail), status=str(exc.status_code)
    )
    return _problem(exc.status_code, error)


def create_nms_app(simulator: NmsSimulator) -> FastAPI:
    """The NMS simulator service over ``simulator``, which the caller owns and closes."""
    jobs = Jobs(simulator)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        jobs.resume()
        try:
            yield
        finally:
            await jobs.aclose()

    app = FastAPI(
        title="NMS simulator",
        summary="A simulated network management system for broadband work orders.",
        description=(
            "Activates and terminates services (modelled on TMF640) and runs speed and "
            "quality checks (modelled on TMF653) on a simulated access network, "
            "asynchronously behind monitors and service tests. `/sim` injects faults and "
            "shows counters. The protocol is described in docs/nms-protocol.md."
        ),
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.jobs = jobs
    app.state.simulator = simulator
    app.add_exception_handler(NmsProblem, _nms_problem)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.include_router(activation)
    app.include_router(testing)
    app.include_router(controls.router)
    return app
