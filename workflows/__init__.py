"""Durable workflows: pure orchestration over small typed payloads."""

from workflows.work_order import WorkOrderWorkflow, workflow_id_for

__all__ = ["WorkOrderWorkflow", "workflow_id_for"]
