"""Did a data recipe move an ability's threshold? (`emergelab compare RUN_A RUN_B`)

Curves of the same task and metric are matched across the two runs (variants may differ: `direct`
in one, `cot` in the other). Both are read at one common level: halfway from the baseline (else
the lower start) to the higher of the two curves' tops (each the plateau of its best logistic,
capped at its highest point). Each curve's own midpoint would compare a recipe that rises to 0.1
with one that rises to 0.9 as if they were the same ability.

The shift is log10(x_B) - log10(x_A) in decades of scale, where x is where a curve first reaches
the level (interpolated between members). A curve that never reaches it within its ladder is
censored: the shift is then a bound ("at least" or "at most", from the largest model).

The interval is a joint profile likelihood (analysis/verdicts/threshold.py explains the single-curve
case): each run's profile chi-square of where it reaches the level, on one common grid, and the
interval is every shift d for which some pair of locations (a, a + d) has a summed profile within
chi2_1(0.95) of the best. A jump between two members is located only to its bracket in each run,
so two runs with the same threshold on offset ladders are not called different, while a shift
larger than the brackets allow is. Crossings beyond a ladder's largest model are part of the
profile, so censoring opens the interval's end. Significant: the interval excludes 0.
"""

from __future__ import annotations

import math

import numpy as np

from ...errors import UserError
from .curves import Curve, oriented, seed_curves, undo
from .emergence import CONF
from .threshold import crossing
from .seeds import shift_deviance
from .threshold import best_level, chi2_cut, common_grid, crossing_profile, fit_logistic

def _by_task(curves: list[Curve], metric: str) -> dict[str, list[Curve]]:
    out: dict[str, list[Curve]] = {}
    for c in curves:
        if c.metric == metric:
            out.setdefault(str(c.keys.get("task")), []).append(c)
    return out


def _pairs(a: list[Curve], b: list[Curve]) -> list[tuple[Curve, Curve]]:
    """Same variant and shot count where both runs have them; else the one curve each run has."""
    same = [(ca, cb) for ca in a for cb in b if ca.keys.get("variant") == cb.keys.get("variant")
            and (ca.keys.get("shots") or 0) == (cb.keys.get("shots") or 0)
            and ca.keys.get("family") is not None]
    if same:
        return same
    return [(a[0], b[0])] if len(a) == 1 and len(b) == 1 else []




def _top(fit, y: np.ndarray) -> float:
    """The plateau of a curve's best logistic, capped at its highest point."""
    return min(best_level(fit, fit.lo + fit.amp), float(y.max()))


def _shift_interval(total: np.ndarray, grid: np.ndarray) -> tuple[float, float]:
    """Interval of log10 x_B - log10 x_A from the joint deviance of (A's location, B's) on grid
    + end cells (ends may be infinite)."""
    pos = np.concatenate([[-np.inf], grid, [np.inf]])
    ok = total <= total.min() + chi2_cut(CONF)
    with np.errstate(invalid="ignore"):
        d = pos[None, :] - pos[:, None]  # B's location minus A's
    if np.isnan(d[ok]).any():  # both before, or both beyond, their grids: anything is possible
        return -math.inf, math.inf
    return float(d[ok].min()), float(d[ok].max())


def _seed_profiles(c: Curve, fit, level: float, grid: np.ndarray) -> np.ndarray:
    """Each seed's crossing profile of `level` (one row for a single-seed curve)."""
    if c.multi_seed:
        return np.stack([crossing_profile(s.fitted(), level, grid) for s in seed_curves(c)])
    return crossing_profile(fit, level, grid)[None, :]


def _joint_deviance(ca: Curve, cb: Curve, fa, fb, level: float, grid: np.ndarray,
                    seed_spread: float | None) -> tuple[np.ndarray, str, str]:
    """Joint deviance of where A and B reach `level`, and what each side knows of seeds:
    "measured" (its own seeds), "pooled" (one seed, the spread measured on the other side's),
    "given" (--seed-spread) or "not measured" (both sides one seed: evaluation noise only)."""
    pa, pb = _seed_profiles(ca, fa, level, grid), _seed_profiles(cb, fb, level, grid)
    if seed_spread is not None:
        return shift_deviance(pa, pb, grid, CONF, seed_spread), "given", "given"
    if not (ca.multi_seed or cb.multi_seed):
        return pa[0][:, None] + pb[0][None, :], "not measured", "not measured"
    label = {True: "measured", False: "pooled"}
    return (shift_deviance(pa, pb, grid, CONF, None), label[ca.multi_seed],
            label[cb.multi_seed])


def _at_level(ca: Curve, cb: Curve, seed_spread: float | None = None) -> dict:
    """Where each curve first reaches the pair's common level (log10 x; NaN where a curve never
    gets there), and the joint interval of the shift."""
    (ya, sa, ba), (yb, sb, bb) = oriented(ca), oriented(cb)
    ta, tb = np.log10(ca.x), np.log10(cb.x)
    fa, fb = fit_logistic(ta, ya, sa), fit_logistic(tb, yb, sb)
    bases = [b for b in (ba, bb) if b is not None]
    lower = float(np.mean(bases)) if bases else min(ya[0], yb[0])
    level = (lower + max(_top(fa, ya), _top(fb, yb))) / 2
    xa = crossing(ta, ya[None], np.array([level]))[0]
    xb = crossing(tb, yb[None], np.array([level]))[0]
    grid = common_grid(ta, tb)
    total, seeds_a, seeds_b = _joint_deviance(ca, cb, fa, fb, level, grid, seed_spread)
    lo, hi = _shift_interval(total, grid)
    return {"level": level, "xa": xa, "xb": xb, "top_a": ta[-1], "top_b": tb[-1],
            "shift_low": lo, "shift_high": hi, "seeds_a": seeds_a, "seeds_b": seeds_b}


def shift_text(row: dict) -> str:
    """A row's shift as people read it: "+0.17", ">= +1.40" or "<= -0.64" (decades)."""
    if row.get("shift_decades") is None:
        return ""
    bound = {"at least": ">= ", "at most": "<= "}.get(row.get("shift_bound"), "")
    return f"{bound}{row['shift_decades']:+.2f}"


NO_RISE = {"flat", "insufficient", "inverse"}
NO_SEEDS = ("one seed per side: the interval covers evaluation noise only, and two seeds of "
            "one recipe differ by more than that; give --seed-spread (decades) to judge")


def compare_thresholds(curves_a: list[Curve], curves_b: list[Curve],
                       metric: str = "exact_match", seed_spread: float | None = None) -> list[dict]:
    """One row per matched pair of curves. seed_spread (decades, the SD of a recipe's seed
    thresholds, as `analyze` of a multi-seed run reports it) widens a single-seed side; with one
    seed on both sides and no seed_spread, `significant` is None: nothing says how far two seeds
    of one recipe fall apart."""
    if seed_spread is not None and not (seed_spread >= 0 and math.isfinite(seed_spread)):
        raise UserError("the seed spread must be a non-negative number of decades")
    a_tasks, b_tasks = _by_task(curves_a, metric), _by_task(curves_b, metric)
    rows = []
    for task in sorted(set(a_tasks) & set(b_tasks)):
        for ca, cb in _pairs(a_tasks[task], b_tasks[task]):
            m = _at_level(ca, cb, seed_spread)
            reached_a, reached_b = bool(np.isfinite(m["xa"])), bool(np.isfinite(m["xb"]))
            row = {"task": task, "metric": metric, "variant_a": ca.keys.get("variant"),
                   "variant_b": cb.keys.get("variant"),
                   "class_a": ca.result.get("classification"),
                   "class_b": cb.result.get("classification"),
                   # each curve's own threshold (its own midpoint), as `analyze` reports it
                   "threshold_a": ca.result.get("threshold"),
                   "threshold_b": cb.result.get("threshold"),
                   "level": float(undo(ca, m["level"])),
                   "x_at_level_a": float(10 ** m["xa"]) if reached_a else None,
                   "x_at_level_b": float(10 ** m["xb"]) if reached_b else None,
                   "largest_a": float(10 ** m["top_a"]), "largest_b": float(10 ** m["top_b"]),
                   "shift_decades": None, "shift_bound": None, "shift_ci": None,
                   "significant": None, "seeds_a": m["seeds_a"], "seeds_b": m["seeds_b"],
                   "note": None}
            if {row["class_a"], row["class_b"]} <= NO_RISE:  # noise crossing a level, no ability
                row["note"] = "neither curve rises: no threshold to compare"
                rows.append(row)
                continue
            if not (reached_a or reached_b):  # both stay below the level: nothing to read
                rows.append(row)
                continue
            if reached_a and reached_b:
                row["shift_decades"], row["shift_bound"] = float(m["xb"] - m["xa"]), "exact"
            elif reached_a:  # B gets there beyond its largest model: later by at least this much
                row["shift_decades"], row["shift_bound"] = float(m["top_b"] - m["xa"]), "at least"
            else:  # A gets there beyond its largest model: B is earlier by at least this much
                row["shift_decades"], row["shift_bound"] = float(m["xb"] - m["top_a"]), "at most"
            # the interval always holds the estimate (a bound's estimate is its finite end)
            lo = min(m["shift_low"], row["shift_decades"])
            hi = max(m["shift_high"], row["shift_decades"])
            row["shift_ci"] = [lo if math.isfinite(lo) else None, hi if math.isfinite(hi) else None]
            if m["seeds_a"] == m["seeds_b"] == "not measured":
                row["note"] = NO_SEEDS
            else:
                row["significant"] = bool(lo > 0 or hi < 0)
            rows.append(row)
    return rows
