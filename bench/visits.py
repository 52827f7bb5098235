"""What a simulated technician does, step by step: the payloads of
:class:`bench.baseline.TechnicianWorkflow` and of its one activity."""

from __future__ import annotations

from pydantic import BaseModel

from models.enums import CannotCompleteReason, JobState


class Step(BaseModel):
    """After ``delay_s`` (workflow time), the technician reports ``state``."""

    delay_s: float
    state: JobState
    reason_code: CannotCompleteReason | None = None


class TechnicianScript(BaseModel):
    """A technician's reports on one order's construction job, in order."""

    workflow_id: str
    """The order's workflow, told of each recorded report by a ``construction_reported``
    signal."""
    technician_id: str
    steps: list[Step]


class ReportInput(BaseModel):
    workflow_id: str
    technician_id: str
    step: Step
