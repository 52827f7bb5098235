"""Small helpers shared by the benchmarks: percentiles and the summary line."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) by the nearest-rank method; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(**figures: object) -> str:
    """One line of ``key=value`` pairs; floats with three decimals."""
    parts = []
    for key, value in figures.items():
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        parts.append(f"{key}={text}")
    return " ".join(parts)


def verdict(missed: Sequence[str]) -> int:
    """Print what missed its target (if anything); the exit code."""
    for line in missed:
        print(f"TARGET MISSED: {line}")
    return 1 if missed else 0
