"""Benchmarks and long fault runs of the work-order system.

Each module runs with one command, ``.venv/bin/python -m bench.<name>`` (``--quick``
for a small run), prints one summary line of ``key=value`` pairs last and exits 1
when a target is missed (saying which):

- ``bench.throughput``: orders/s end to end through the API against a floor workflow;
- ``bench.latency``: p50/p99 of creating an order and of a technician's report;
- ``bench.boards``: a technician's report to the change on 50 live dispatchers' boards;
- ``bench.lead_time``: parallel sub-tasks against a sequential baseline, in workflow time;
- ``bench.capacity``: worker memory with 10,000 open orders, the order list over 100,000;
- ``bench.faults``: a worker killed with 100 orders in flight, and the other faults, long.

``bench.system`` starts the system and plays its users, ``bench.checks`` audits the
orders after a fault, ``bench.variants`` is the worker with tuning options
(``--worker`` of the first, second and fourth), to measure a change before making it.
The machine they run on is noisy, so a figure is, where it can be, a ratio of two
things measured in the same run.
"""

import os
import sys
from typing import NoReturn


def exit_at_once(code: int) -> NoReturn:
    """End a benchmark's process with ``code`` without the interpreter's finalization.

    The Temporal SDK's Rust runtime keeps threads that may still release the GIL while
    the interpreter finalizes, which aborts the process (``Fatal Python error:
    PyGILState_Release``, temporalio/sdk-python#300) after every figure was printed.
    The figures are flushed first; nothing is left to clean up that the OS does not.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
