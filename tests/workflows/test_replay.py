"""Stored histories must replay on the current workflow code: a change that breaks
determinism for orders already running fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workflows import WorkOrderWorkflow
from workorders.codec import data_converter
from workorders.config import Settings

HISTORIES = sorted((Path(__file__).resolve().parent.parent / "histories").glob("*.json"))


def test_histories_are_stored() -> None:
    assert len(HISTORIES) >= 9


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=[WorkOrderWorkflow], data_converter=data_converter(Settings(_env_file=None))
    )
    await replayer.replay_workflow(history)
