"""Stored histories must replay on the current workflow code: a change that breaks
determinism for orders already running fails here (``docs/versioning.md``). The
histories in ``tests/histories`` are recorded with each release
(``python -m tests.workflows.record_histories``); a sub-folder keeps an older
release's while a patch still guards its orders."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from workflows import WorkOrderWorkflow
from workorders.codec import data_converter
from workorders.config import Settings
from workorders.worker import workflow_runner

ROOT = Path(__file__).resolve().parent.parent / "histories"
HISTORIES = sorted(ROOT.rglob("*.json"))
RUNNERS = {
    "full-sandbox": SandboxedWorkflowRunner(),
    "production": workflow_runner(),
}


def test_histories_are_stored() -> None:
    assert len(list(ROOT.glob("*.json"))) >= 12  # of the last release


@pytest.mark.parametrize("runner", RUNNERS.values(), ids=RUNNERS.keys())
@pytest.mark.parametrize("path", HISTORIES, ids=[str(p.relative_to(ROOT)) for p in HISTORIES])
async def test_history_replays(path: Path, runner: WorkflowRunner) -> None:
    """In the SDK's own sandbox, which imports the workflow's modules afresh (an
    import with side effects would fail there), and in the worker's."""
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=[WorkOrderWorkflow],
        data_converter=data_converter(Settings(_env_file=None)),
        workflow_runner=runner,
    )
    await replayer.replay_workflow(history)
