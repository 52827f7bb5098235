"""The NMS simulator's controls, for tests and operators: the faults to inject and
the counters that show what the simulated network did."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from workorders.nms.simulator import NmsSimulator

log = logging.getLogger("workorders.nms.controls")


def get_simulator(request: Request) -> NmsSimulator:
    simulator: NmsSimulator = request.app.state.simulator
    return simulator


SimulatorDep = Annotated[NmsSimulator, Depends(get_simulator)]

Rate = Annotated[float, Field(ge=0, le=1)]
Seconds = Annotated[float, Field(ge=0)]


class Faults(BaseModel):
    """How the simulated network misbehaves; rates are chances from 0 to 1.

    A ``PUT`` replaces them all: a fault left out is switched off.
    """

    model_config = ConfigDict(extra="forbid")

    latency_min_s: Seconds = 0
    latency_max_s: Seconds = 0
    outage_rate: Rate = 0
    port_conflict_rate: Rate = 0
    faulty_port_rate: Rate = 0
    vlan_conflict_rate: Rate = 0
    legacy_olt_rate: Rate = 0
    busy_server_rate: Rate = 0
    congested_server_rate: Rate = 0
    degraded_line_rate: Rate = 0

    @model_validator(mode="after")
    def _check(self) -> Faults:
        if self.latency_max_s < self.latency_min_s:
            raise ValueError("latency_max_s must be at least latency_min_s")
        return self


class Stats(BaseModel):
    """What the simulated network did."""

    activations: dict[str, int]
    """How many times each order's service was activated."""
    duplicate_activations: int
    """Activations beyond the first of an order: 0 unless something went wrong.

    Counts activations only: an order activated again after its deactivation counts.
    """
    deactivations: dict[str, int]
    """How many times each order's service was ended (not counting deactivations that
    found nothing to end)."""
    active_services: int
    jobs_in_progress: int


router = APIRouter(prefix="/sim", tags=["simulator controls"])


@router.get("/faults", response_model=Faults)
async def get_faults(simulator: SimulatorDep) -> Faults:
    """The faults being injected."""
    config = simulator.config
    return Faults.model_validate({name: getattr(config, name) for name in Faults.model_fields})


@router.put("/faults", response_model=Faults)
async def put_faults(faults: Faults, simulator: SimulatorDep) -> Faults:
    """Inject these faults from now on (until the simulator restarts)."""
    simulator.config = replace(simulator.config, **faults.model_dump())
    log.info("faults now %s", faults.model_dump())
    return faults


@router.get("/stats", response_model=Stats)
async def get_stats(simulator: SimulatorDep) -> Stats:
    """Activations and deactivations per order, duplicate activations, active services,
    open jobs."""
    return Stats(
        activations=await asyncio.to_thread(simulator.activations_per_order),
        duplicate_activations=await asyncio.to_thread(simulator.duplicate_activations),
        deactivations=await asyncio.to_thread(simulator.deactivations_per_order),
        active_services=len(await asyncio.to_thread(simulator.active_services)),
        jobs_in_progress=len(await asyncio.to_thread(simulator.jobs_in_progress)),
    )
