"""Each benchmark runs, at a tiny size, and prints its summary line.

Only the lead-time benchmark's target is asserted here: it runs in workflow time on the
time-skipping server, so its figures do not depend on this machine. The others measure
this machine; at these sizes their figures mean nothing, and a missed target (exit 1)
is not a failure of the script. The slow ones run with ``make bench-smoke``, not in
``make test``, to keep the suite short.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def bench(module: str, *args: str, timeout_s: float = 240) -> tuple[int, dict[str, str]]:
    """Run ``python -m bench.<module> ARGS``: its exit code and its summary line."""
    result = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    # 1: a target missed (said on stdout); a crash also exits 1, with a traceback.
    assert result.returncode in (0, 1), result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stdout.splitlines() if "=" in line and " " in line]
    assert lines, result.stdout + result.stderr
    summary = [line for line in lines if not line.startswith("TARGET MISSED")][-1]
    return result.returncode, dict(pair.split("=", 1) for pair in summary.split())


def test_lead_time_parallel_work_takes_its_longest_path() -> None:
    code, figures = bench("lead_time", "--quick", timeout_s=120)
    assert code == 0, figures
    assert float(figures["over_longest_path"]) <= 1.05
    assert float(figures["parallel_over_sequential"]) < 1


@pytest.mark.integration
def test_throughput_runs() -> None:
    _, figures = bench("throughput", "--orders", "6", "--concurrency", "3")
    assert float(figures["ratio_vs_floor"]) > 0
    assert int(figures["orders"]) == 6


@pytest.mark.integration
@pytest.mark.slow
def test_throughput_with_listeners_runs() -> None:
    _, figures = bench(
        "throughput", "--orders", "6", "--concurrency", "3", "--listeners", "2", timeout_s=360
    )
    assert int(figures["deliveries"]) >= 6 * 2 and int(figures["deliveries"]) % 2 == 0
    assert float(figures["listeners_ratio"]) > 0 and float(figures["delivery_p95_s"]) > 0


@pytest.mark.integration
@pytest.mark.slow
def test_latency_runs() -> None:
    _, figures = bench("latency", "--seconds", "3", "--warmup", "1", "--rate", "5")
    assert int(figures["create_n"]) > 0
    assert figures["errors"] == "0"


@pytest.mark.integration
@pytest.mark.slow
def test_capacity_runs() -> None:
    _, figures = bench(
        "capacity",
        *("--stored", "300", "--open", "12", "--repeat", "2", "--idle", "1", "--no-postgres"),
    )
    assert float(figures["worker_rss_mib"]) > 0
    assert int(figures["open_orders"]) == 12


def test_slot_search_runs_and_finds_the_slots_of_its_technicians() -> None:
    _, figures = bench("slots", "--technicians", "20", "--days", "3", "--searches", "20")
    assert int(figures["searches"]) == 20
    assert int(figures["slots_offered"]) > 0
    assert float(figures["search_p99_ms"]) > 0


def test_delivery_runs() -> None:
    _, figures = bench("delivery", "--orders", "4", "--listeners", "3", timeout_s=180)
    assert figures["deliveries"] == figures["expected"] == str(4 * 7 * 3)
    assert float(figures["p95_s"]) > 0
    assert float(figures["throughput_ratio"]) > 0
