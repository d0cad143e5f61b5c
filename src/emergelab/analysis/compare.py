"""Did a data recipe move an ability's threshold? (`emergelab compare RUN_A RUN_B`)

Curves of the same task and metric are matched across the two runs (variants may differ: `direct`
in one, `cot` in the other). The shift is log10(threshold_B) - log10(threshold_A) in decades of
scale; its 95% interval comes from the two runs' independent bootstrap thresholds (over stored
examples for our runs), paired at random; the shift is significant when that interval excludes 0.
"""

from __future__ import annotations

import math

import numpy as np

from .emergence import Curve


def _by_task(curves: list[Curve], metric: str) -> dict[str, list[Curve]]:
    out: dict[str, list[Curve]] = {}
    for c in curves:
        if c.metric == metric:
            out.setdefault(str(c.keys.get("task")), []).append(c)
    return out


def _pairs(a: list[Curve], b: list[Curve]) -> list[tuple[Curve, Curve]]:
    """Same variant where both runs have it; else the one variant each run has."""
    same = [(ca, cb) for ca in a for cb in b if ca.keys.get("variant") == cb.keys.get("variant")
            and ca.keys.get("family") is not None]
    if same:
        return same
    return [(a[0], b[0])] if len(a) == 1 and len(b) == 1 else []


def compare_thresholds(curves_a: list[Curve], curves_b: list[Curve], metric: str = "exact_match",
                       seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    a_tasks, b_tasks = _by_task(curves_a, metric), _by_task(curves_b, metric)
    rows = []
    for task in sorted(set(a_tasks) & set(b_tasks)):
        for ca, cb in _pairs(a_tasks[task], b_tasks[task]):
            ta, tb = ca.result.get("threshold"), cb.result.get("threshold")
            row = {"task": task, "metric": metric, "variant_a": ca.keys.get("variant"),
                   "variant_b": cb.keys.get("variant"),
                   "class_a": ca.result.get("classification"),
                   "class_b": cb.result.get("classification"),
                   "threshold_a": ta, "threshold_b": tb, "shift_decades": None,
                   "shift_ci": None, "significant": None}
            if ta and tb:
                row["shift_decades"] = math.log10(tb) - math.log10(ta)
                ba, bb = ca.threshold_boot, cb.threshold_boot
                if ba is not None and bb is not None and len(ba) and len(bb):
                    k = max(len(ba), len(bb))
                    diff = rng.choice(bb, k) - rng.choice(ba, k)
                    lo, hi = np.quantile(diff, [0.025, 0.975])
                    row["shift_ci"] = [float(lo), float(hi)]
                    row["significant"] = bool(lo > 0 or hi < 0)
            rows.append(row)
    return rows
