from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workflows import WorkOrderWorkflow
from workorders.codec import data_converter
from workorders.config import Settings
from workorders.sandbox import CompiledOnceSandboxedWorkflowRunner, compiled

COMPLETED = Path(__file__).resolve().parent.parent / "histories" / "completed.json"


class Door:
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def __enter__(self) -> None:
        self.seen.append("in")

    def __exit__(self, *exc: object) -> None:
        self.seen.append("out")


@pytest.mark.parametrize("compile_first", [False, True])
def test_code_is_compiled_once_and_runs_as_the_string_does(compile_first: bool) -> None:
    code = "with door:\n  result = knock(2)\n"
    assert compiled(code) is compiled(code)
    seen: list[str] = []
    names: dict[str, object] = {"door": Door(seen), "knock": lambda n: n * 21}
    exec(compiled(code) if compile_first else code, names, names)
    assert names["result"] == 42
    assert seen == ["in", "out"]


async def test_a_workflow_run_compiles_its_sandbox_code_once() -> None:
    """If the SDK stopped handing its code through ``_run_code``, the runner would
    compile nothing and this would fail."""
    history = WorkflowHistory.from_json("completed", COMPLETED.read_text())
    replayer = Replayer(
        workflows=[WorkOrderWorkflow],
        data_converter=data_converter(Settings(_env_file=None)),
        workflow_runner=CompiledOnceSandboxedWorkflowRunner(),
    )
    compiled.cache_clear()
    await replayer.replay_workflow(history)
    first = compiled.cache_info()
    await replayer.replay_workflow(history)
    second = compiled.cache_info()
    assert first.currsize > 0
    assert second.currsize == first.currsize  # nothing new to compile
    assert second.hits > first.hits
