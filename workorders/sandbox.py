"""The workflow sandbox, with the code it runs compiled once.

The SDK's sandbox (``temporalio.worker.workflow_sandbox``) enters a workflow run by
``exec`` of a short code string: every activation, and every payload of each, where it
asks the workflow for the payload's serialization context. ``exec`` of a string
compiles it again each time (15 µs for these, against 1 µs for a compiled one), and in
``bench.throughput`` that compiling was 7.9 % of the worker's time holding the GIL
(py-spy ``--gil``). The runner here gives ``exec`` the strings compiled once; what runs,
and what the sandbox allows, is the same.
"""

from __future__ import annotations

from functools import lru_cache
from types import CodeType
from typing import Any

from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

# The sandbox's instance is the SDK's own; only how it hands code to exec changes.
from temporalio.worker.workflow_sandbox._runner import _Instance


@lru_cache(maxsize=256)
def compiled(code: str) -> CodeType:
    """``code`` compiled as ``exec`` compiles a string (same file name, same flags)."""
    return compile(code, "<string>", "exec")


class _CompiledOnceInstance(_Instance):
    def _run_code(self, code: str, **extra_globals: Any) -> None:
        # exec takes a code object where it takes a string.
        super()._run_code(compiled(code), **extra_globals)  # type: ignore[arg-type]


class CompiledOnceSandboxedWorkflowRunner(SandboxedWorkflowRunner):
    """:class:`SandboxedWorkflowRunner` whose runs compile their sandbox code once."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _CompiledOnceInstance(det, self.runner_class, self.restrictions)
