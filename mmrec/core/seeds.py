"""Seed aggregation: one shape for every report, ``{"mean", "std", "n"}`` per metric, one seed included.

A one-seed summary has std 0 and n 1 (the report shows no ± and draws no "> 2 std" verdict from it), so report,
model-card and Hub code read every metric the same way.
"""

from __future__ import annotations

import math

import numpy as np


def aggregate_seeds(results: list[dict]) -> dict:
    """Same shape as one result, every metric replaced by ``{"mean", "std", "n"}`` over the seeds that have it.

    Integers identical across seeds (counts, bin bounds), strings, flags and None are kept as they are; NaN and
    None values (a metric a seed could not compute) are left out of the mean.
    """
    first = results[0]
    if isinstance(first, dict):
        return {k: aggregate_seeds([r[k] for r in results]) for k in first}
    if isinstance(first, list):
        return [aggregate_seeds([r[i] for r in results]) for i in range(len(first))]
    if isinstance(first, (bool, str)) or first is None and all(r is None for r in results):
        return first
    values = [float(r) for r in results if r is not None and not (isinstance(r, float) and math.isnan(r))]
    if isinstance(first, int) and all(r == first for r in results):
        return first
    if not values:
        return None
    return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
            "n": len(values)}
