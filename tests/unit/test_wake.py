"""The waker signals the work-order workflow by its signal's name."""

from __future__ import annotations

from temporalio import workflow

from workflows import WorkOrderWorkflow
from workorders.wake import TECHNICIAN_AVAILABLE


def test_the_workflow_answers_to_the_signal_the_waker_sends() -> None:
    # The SDK reads a workflow class only through this private helper; the end-to-end
    # check is tests/api/test_construction.py, where a technician given room wakes a job.

    definition = workflow._Definition.must_from_class(WorkOrderWorkflow)
    assert TECHNICIAN_AVAILABLE in definition.signals
    assert definition.signals[TECHNICIAN_AVAILABLE].fn is WorkOrderWorkflow.technician_available
