"""Did a data recipe move an ability's threshold? (`emergelab compare RUN_A RUN_B`)

Curves of the same task and metric are matched across the two runs (variants may differ: `direct`
in one, `cot` in the other). Both are read at one common level: halfway from the baseline (else
the lower start) to the higher of the two curves' best values. Each curve's own midpoint would
compare a recipe that rises to 0.1 with one that rises to 0.9 as if they were the same ability.

The shift is log10(x_B) - log10(x_A) in decades of scale, where x is the first scale at which a
curve reaches the level. A curve that never reaches it within its ladder is censored: it gets
there beyond its largest model, if at all, and the shift is a bound ("at least" or "at most",
from the largest model). The 95% interval comes from the two runs' independent bootstrap copies
(over stored examples for our runs), each copy reading both curves at its own common level; a
censored copy counts at its largest model, so an interval that touches censoring is conservative
on the censored side. The shift is significant when the interval excludes 0.
"""

from __future__ import annotations

import numpy as np

from .emergence import Curve, _oriented, crossing, replicates


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


def _at_level(ca: Curve, cb: Curve, rng: np.random.Generator) -> dict:
    """Where each curve first reaches the pair's common level, with bootstrap copies (log10 x;
    NaN where a curve never gets there)."""
    (ya, _, ba), (yb, _, bb) = _oriented(ca), _oriented(cb)
    bases = [b for b in (ba, bb) if b is not None]
    lower = float(np.mean(bases)) if bases else min(ya[0], yb[0])
    level = (lower + max(ya.max(), yb.max())) / 2
    ta, tb = np.log10(ca.x), np.log10(cb.x)
    xa, xb = crossing(ta, ya[None], np.array([level]))[0], crossing(tb, yb[None], np.array([level]))[0]
    Ya, Yb = replicates(ca, slice(None), rng), replicates(cb, slice(None), rng)
    levels = (lower + np.maximum(Ya.max(1), Yb.max(1))) / 2
    return {"lower": lower, "level": level, "xa": xa, "xb": xb, "top_a": ta[-1], "top_b": tb[-1],
            "boot_a": crossing(ta, Ya, levels), "boot_b": crossing(tb, Yb, levels)}


def _undo(c: Curve, v: float) -> float:
    """A level on the oriented scale back in the metric's own units."""
    if c.higher_is_better:
        return v
    return 10 ** (-v) if np.all(c.y > 0) and c.y.max() / c.y.min() > 10 else -v


def shift_text(row: dict) -> str:
    """A row's shift as people read it: "+0.17", ">= +1.40" or "<= -0.64" (decades)."""
    if row.get("shift_decades") is None:
        return ""
    bound = {"at least": ">= ", "at most": "<= "}.get(row.get("shift_bound"), "")
    return f"{bound}{row['shift_decades']:+.2f}"


def compare_thresholds(curves_a: list[Curve], curves_b: list[Curve], metric: str = "exact_match",
                       seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    a_tasks, b_tasks = _by_task(curves_a, metric), _by_task(curves_b, metric)
    rows = []
    for task in sorted(set(a_tasks) & set(b_tasks)):
        for ca, cb in _pairs(a_tasks[task], b_tasks[task]):
            m = _at_level(ca, cb, rng)
            reached_a, reached_b = bool(np.isfinite(m["xa"])), bool(np.isfinite(m["xb"]))
            row = {"task": task, "metric": metric, "variant_a": ca.keys.get("variant"),
                   "variant_b": cb.keys.get("variant"),
                   "class_a": ca.result.get("classification"),
                   "class_b": cb.result.get("classification"),
                   # each curve's own threshold (its own midpoint), as `analyze` reports it
                   "threshold_a": ca.result.get("threshold"),
                   "threshold_b": cb.result.get("threshold"),
                   "level": float(_undo(ca, m["level"])),
                   "x_at_level_a": float(10 ** m["xa"]) if reached_a else None,
                   "x_at_level_b": float(10 ** m["xb"]) if reached_b else None,
                   "largest_a": float(10 ** m["top_a"]), "largest_b": float(10 ** m["top_b"]),
                   "shift_decades": None, "shift_bound": None, "shift_ci": None,
                   "significant": None}
            if not (reached_a or reached_b):  # both stay below the baseline: nothing to read
                rows.append(row)
                continue
            # censored copies count at the largest model: a lower bound on how late they get there
            ba = np.where(np.isfinite(m["boot_a"]), m["boot_a"], m["top_a"])
            bb = np.where(np.isfinite(m["boot_b"]), m["boot_b"], m["top_b"])
            lo, hi = np.quantile(bb - ba, [0.025, 0.975])
            if reached_a and reached_b:
                row["shift_decades"], row["shift_bound"] = float(m["xb"] - m["xa"]), "exact"
                row["shift_ci"] = [float(lo), float(hi)]
                row["significant"] = bool(lo > 0 or hi < 0)
            elif reached_a:  # B gets there beyond its largest model: later by at least this much
                row["shift_decades"], row["shift_bound"] = float(m["top_b"] - m["xa"]), "at least"
                row["shift_ci"] = [float(lo), None]
                row["significant"] = bool(lo > 0)
            else:  # A gets there beyond its largest model: B is earlier by at least this much
                row["shift_decades"], row["shift_bound"] = float(m["xb"] - m["top_a"]), "at most"
                row["shift_ci"] = [None, float(hi)]
                row["significant"] = bool(hi < 0)
            rows.append(row)
    return rows
