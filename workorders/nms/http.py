"""An NMS over HTTP: the REST protocol of ``docs/nms-protocol.md``, modelled on TM
Forum's TMF640 (service activation and termination) and TMF653 (service test)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from httpx_aiohttp import AiohttpTransport
from pydantic import BaseModel, ValidationError

from workorders.nms import tmf
from workorders.nms.base import (
    ActivationRequest,
    ActivationResponse,
    DeactivationRequest,
    DeactivationResponse,
    NmsUnavailable,
    ServiceTestRequest,
    ServiceTestResponse,
)

JobT = TypeVar("JobT", bound=tmf.Job)
ModelT = TypeVar("ModelT", bound=BaseModel)
ResponseT = TypeVar("ResponseT")

UNAVAILABLE_STATUSES = frozenset({408, 429})
"""Client-error statuses that mean "not now" rather than "no"."""


def nms_client(base_url: str) -> httpx.AsyncClient:
    """The HTTP client for an NMS: httpx's interface on aiohttp's transport, which
    costs a third of the CPU per request of httpx's own (measured on the project's
    2-core machine: 0.97 against 2.3 ms), and retries nothing (Temporal retries)."""
    return httpx.AsyncClient(base_url=base_url, transport=AiohttpTransport())


class HttpNms:
    """A :class:`~workorders.nms.NetworkManagementSystem` that talks to an NMS over HTTP.

    Each call submits its request with the idempotency key as the
    ``Idempotency-Key`` header, then follows the monitor (or service test) the NMS
    answers with until it ends. The call never retries: an NMS that cannot be
    reached, answers 5xx, 408 or 429, answers something unreadable or does not end
    the work in time raises :class:`~workorders.nms.NmsUnavailable`, and Temporal
    retries with the same key. A refusal (a 4xx error or a ``failed`` end with an
    error code) is returned as a failed response.
    """

    def __init__(
        self, client: httpx.AsyncClient, *, timeout_s: float = 60, poll_interval_s: float = 0.5
    ) -> None:
        """Talk to the NMS at the client's ``base_url``.

        Args:
            client: Owned by the caller, with transport retries off.
            timeout_s: How long one call may take, following included.
            poll_interval_s: The pause between two looks at work in progress.
        """
        self._client = client
        self._timeout_s = timeout_s
        self._poll_interval_s = poll_interval_s

    async def activate(self, request: ActivationRequest) -> ActivationResponse:
        """Activate the service (TMF640 ``POST /service``, then its monitor).

        Raises:
            NmsUnavailable: the NMS could not be reached, failed or took too long.
        """
        return await self._service_order(
            request.idempotency_key,
            tmf.service_create(request),
            tmf.refused_activation,
            tmf.activation_response,
        )

    async def deactivate(self, request: DeactivationRequest) -> DeactivationResponse:
        """Terminate the service (TMF640 ``POST /service`` in state ``terminated``, then
        its monitor).

        Raises:
            NmsUnavailable: the NMS could not be reached, failed or took too long.
        """
        return await self._service_order(
            request.idempotency_key,
            tmf.service_termination(request),
            tmf.refused_deactivation,
            tmf.deactivation_response,
        )

    async def _service_order(
        self,
        key: str,
        body: BaseModel,
        refused: Callable[[tmf.TmfError], ResponseT],
        ended: Callable[[tmf.Monitor], ResponseT],
    ) -> ResponseT:
        """Submit a TMF640 service order and follow its monitor to the end."""
        deadline = time.monotonic() + self._timeout_s
        submitted = await self._submit(tmf.SERVICE_PATH, key, body, tmf.Monitor, deadline)
        if isinstance(submitted, tmf.TmfError):
            return refused(submitted)
        monitor = await self._follow(submitted, tmf.MONITOR_PATH, deadline)
        return _ended(ended, monitor)

    async def run_service_test(self, request: ServiceTestRequest) -> ServiceTestResponse:
        """Measure the line (TMF653 ``POST /serviceTest``, then the test).

        Raises:
            NmsUnavailable: the NMS could not be reached, failed or took too long.
        """
        deadline = time.monotonic() + self._timeout_s
        submitted = await self._submit(
            tmf.SERVICE_TEST_PATH,
            request.idempotency_key,
            tmf.service_test_create(request),
            tmf.ServiceTest,
            deadline,
        )
        if isinstance(submitted, tmf.TmfError):
            return tmf.refused_service_test(submitted)
        test = await self._follow(submitted, tmf.SERVICE_TEST_PATH, deadline)
        return _ended(tmf.service_test_response, test)

    async def _submit(
        self, path: str, key: str, body: BaseModel, job: type[JobT], deadline: float
    ) -> JobT | tmf.TmfError:
        """POST the request: its job, or the error the NMS refused it with."""
        response = await self._send(
            "POST",
            path,
            deadline,
            headers={tmf.IDEMPOTENCY_KEY: key},
            json=body.model_dump(mode="json", by_alias=True, exclude_none=True),
        )
        if response.is_success:
            return _parse(response, job)
        return _parse(response, tmf.TmfError)

    async def _follow(self, job: JobT, path: str, deadline: float) -> JobT:
        """GET the job every poll interval until it ends."""
        while job.state is tmf.State.IN_PROGRESS:
            left = deadline - time.monotonic()
            if left <= 0:
                raise NmsUnavailable(f"NMS: {job.href} still {job.state} after {self._timeout_s} s")
            await asyncio.sleep(min(self._poll_interval_s, left))
            response = await self._send("GET", f"{path}/{quote(job.id, safe='')}", deadline)
            if not response.is_success:
                raise NmsUnavailable(f"NMS: GET {job.href} answered {_status(response)}")
            job = _parse(response, type(job))
        return job

    async def _send(
        self,
        method: str,
        path: str,
        deadline: float,
        *,
        headers: dict[str, str] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """One request within the call's deadline: a 2xx or a 4xx that is a refusal.

        Raises:
            NmsUnavailable: no answer in time, or 5xx, 408, 429 or another status.
        """
        left = max(deadline - time.monotonic(), 0.001)
        try:
            response = await self._client.request(
                method, path, headers=headers, json=json, timeout=left
            )
        except httpx.HTTPError as e:
            raise NmsUnavailable(f"NMS: {method} {path} failed: {type(e).__name__}: {e}") from e
        if response.is_success or (
            response.is_client_error and response.status_code not in UNAVAILABLE_STATUSES
        ):
            return response
        raise NmsUnavailable(f"NMS: {method} {path} answered {_status(response)}")


def _parse(response: httpx.Response, model: type[ModelT]) -> ModelT:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as e:
        raise NmsUnavailable(
            f"NMS: {response.request.method} {response.request.url.path} answered"
            f" {response.status_code} with a body that is no {model.__name__}"
        ) from e


def _ended(convert: Callable[[JobT], ResponseT], job: JobT) -> ResponseT:
    """The answer of an ended job; one without its result is unreadable."""
    try:
        return convert(job)
    except ValueError as e:
        raise NmsUnavailable(f"NMS: {e}") from e


def _status(response: httpx.Response) -> str:
    """The status, with the error's code and message when the body has them."""
    try:
        error = tmf.TmfError.model_validate_json(response.content)
    except ValidationError:
        return f"{response.status_code} {response.reason_phrase}"
    return f"{response.status_code} {error.code}: {error.message or error.reason}"
