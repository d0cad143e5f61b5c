"""Curves: one (family, task, variant, shots, metric) series over a scale axis, built from a
results table, with each point's noise; and the orientation every verdict reads them in.

Each model contributes its final checkpoint (sources.final_rows); seeds are kept apart
(`seed_points`) and the curve's own points are their mean. A point's standard error comes from
its interval, its stderr, binomial noise of n examples, or, when the table gives none, a robust
scale of the curve's second differences. Curves are analysed oriented so that higher is better;
lower-is-better metrics that span more than a decade (perplexity) as -log10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from ...errors import UserError
from ...evaluate.registry import lookup
from ...sources import GROUP_KEYS, final_rows, normalise


@dataclass
class Curve:
    keys: dict
    metric: str
    x_name: str
    x: np.ndarray
    y: np.ndarray
    se: np.ndarray
    n: np.ndarray | None
    baseline: float | None
    higher_is_better: bool
    noise_source: str
    result: dict = field(default_factory=dict)
    fit: object = None  # the logistic fit behind the threshold (analysis/verdicts/threshold.py)
    # a rising curve's shape: near its lower level first, then a logistic decisively better than
    # a log-linear trend (threshold_shape); a logistic decisively better and no wider than the
    # hard width, whatever the leading points (sharp)
    threshold_shape: bool = False
    sharp: bool = False
    # per training seed, where the table has a seed column: {seed: (x, y, se)} in the metric's
    # own units (analysis/verdicts/seeds.py); the curve's own x, y, se are then the mean over seeds
    seed_points: dict = field(default_factory=dict)
    seed_curves: list | None = field(default=None, repr=False)  # fitted once (seed_curves)

    @property
    def multi_seed(self) -> bool:
        """Two or more seeds with a curve of their own (>= 4 sizes each): intervals then hold
        the seed-to-seed variation."""
        return sum(len(x) >= 4 for x, _, _ in self.seed_points.values()) >= 2


def _noise(g: pd.DataFrame, y: np.ndarray, metric: str, ci_level: float) -> tuple[np.ndarray, str]:
    """Each point's standard error: from its interval (at the table's ci_level), its stderr, or
    binomial noise of n examples for proportions; estimated from the curve when none is given."""
    if {"ci_low", "ci_high"} <= set(g.columns) and g[["ci_low", "ci_high"]].notna().all().all():
        width = (g["ci_high"] - g["ci_low"]).to_numpy(float)
        if np.all(width >= 0) and np.any(width > 0):
            se = width / (2 * float(norm.ppf(0.5 + ci_level / 2)))
            # a zero-width interval (every example scored the same, e.g. all perfect) is no
            # zero noise: it gets the curve's smallest positive one
            return np.where(se > 0, se, se[se > 0].min()), "interval"
    if "stderr" in g.columns and g["stderr"].notna().all() and (g["stderr"] > 0).all():
        return g["stderr"].to_numpy(float), "stderr"
    entry = lookup(metric)
    proportion = entry is not None and entry.aggregation == "proportion"
    if proportion and "n" in g.columns and g["n"].notna().all() and np.all((y >= 0) & (y <= 1)):
        n = g["n"].to_numpy(float)
        p = np.clip(y, 0.5 / n, 1 - 0.5 / n)  # no zero-width noise at 0 or 1
        return np.sqrt(p * (1 - p) / n), "binomial"
    # No noise given: a robust scale of second differences (insensitive to trends and to a
    # single jump), shared by all points.
    if len(y) >= 4:
        d2 = np.diff(y, 2)
        s = 1.4826 * np.median(np.abs(d2)) / math.sqrt(6)
    else:
        s = np.std(y)
    s = max(s, 1e-6 * max(1.0, float(np.max(np.abs(y)))))
    return np.full(len(y), s), "estimated"


def _direction(g: pd.DataFrame, metric: str) -> bool:
    """higher_is_better: the table's own column when it has one, else the metric registry."""
    if "higher_is_better" in g.columns and g["higher_is_better"].notna().any():
        v = g["higher_is_better"].dropna().iloc[0]
        return str(v).lower() in ("true", "1", "1.0")
    entry = lookup(metric)
    if entry is None:
        raise UserError(f"unknown metric {metric!r}: not in the metric registry and the table has "
                        "no higher_is_better column to say its direction")
    return entry.higher_is_better


def build_curves(df: pd.DataFrame, x: str, pool_families: bool = False,
                 arms: dict[str, str] | None = None, ci_level: float = 0.95) -> list[Curve]:
    """One curve per (family, task, variant, shots, metric); pool_families puts every model in
    one family (cross-family scaling, as Lu et al. 2024 and Wei et al. 2022 plot it).

    arms maps a family to the column whose values are the arms of a declared ablation (a suite
    experiment's `ladder.arms = "n_layer"`): that family gets one curve per value. Nothing is
    split unless declared: a real family mixes depth and width as it grows. ci_level is the
    level of the table's ci_low/ci_high."""
    df = normalise(df)
    if pool_families:
        df["family"] = "pooled"
    for family, col in (arms or {}).items():
        if col not in df.columns:
            raise UserError(f"ablation arms column {col!r} is not in the table")
        mask = (df["family"] == family) & df[col].notna()
        df.loc[mask, "family"] = [f"{family}/{col}={v:g}" if isinstance(v, (int, float)) else
                                  f"{family}/{col}={v}" for v in df.loc[mask, col]]
    if x != "step":  # each model contributes its final checkpoint
        df = final_rows(df)
    curves = []
    keys = GROUP_KEYS + ["metric"]
    for key, g in df.groupby(keys, dropna=False, sort=True):
        g = g[np.isfinite(g[x]) & (g[x] > 0) & np.isfinite(g["value"])]
        if g.empty:
            continue
        agg = {"value": "mean"}
        for c in ("ci_low", "ci_high", "stderr", "n", "baseline"):
            if c in g.columns:
                agg[c] = "mean" if c != "n" else "sum"
        rows = g
        if "stderr" in agg:  # seeds averaged: the standard error of a mean of k values
            g = g.assign(stderr=g["stderr"] ** 2)
        grouped = g.groupby(x, as_index=False).agg(agg)
        counts = g.groupby(x).size().to_numpy()
        if "stderr" in agg:
            grouped["stderr"] = np.sqrt(grouped["stderr"]) / np.sqrt(counts)
        grouped = grouped.sort_values(x)
        metric = key[-1]
        y = grouped["value"].to_numpy(float)
        higher = _direction(g, metric)
        se, source = _noise(grouped, y, metric, ci_level)
        baseline = None
        if "baseline" in grouped.columns and grouped["baseline"].notna().any():
            baseline = float(grouped["baseline"].dropna().mean())
        n = grouped["n"].to_numpy(float) if "n" in grouped.columns else None
        keys = {k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else v)
                for k, v in zip(GROUP_KEYS, key[:-1])}
        curve = Curve(keys, metric, x, grouped[x].to_numpy(float), y, se, n, baseline, higher,
                      source)
        if "seed" in rows.columns and rows["seed"].notna().any():
            _add_seeds(curve, rows, ci_level)
        curves.append(curve)
    return curves


def _add_seeds(c: Curve, g: pd.DataFrame, ci_level: float) -> None:
    """Keep each seed's points; where two or more seeds have a curve, the curve's own points are
    the mean over seeds, each with the standard error of a mean of k seeds: the spread between
    seeds (which holds their evaluation noise too), never less than their evaluation noise."""
    for seed, gs in g[g["seed"].notna()].groupby("seed"):
        gs = gs.groupby(c.x_name, as_index=False).mean(numeric_only=True).sort_values(c.x_name)
        ys = gs["value"].to_numpy(float)
        ses, _ = _noise(gs, ys, c.metric, ci_level)
        c.seed_points[int(seed)] = (gs[c.x_name].to_numpy(float), ys, ses)
    if not c.multi_seed:
        return
    y, se = [], []
    for xi in c.x:
        vals = [(ys[xs == xi][0], ses[xs == xi][0]) for xs, ys, ses in c.seed_points.values()
                if np.any(xs == xi)]
        v = np.array([a for a, _ in vals])
        e = np.array([b for _, b in vals])
        between = float(v.var(ddof=1)) if len(v) > 1 else 0.0
        y.append(float(v.mean()))
        se.append(math.sqrt(max(between, float(np.mean(e**2))) / len(v)))
    c.y, c.se = np.array(y), np.array(se)


def _orientation(c: Curve) -> str:
    if c.higher_is_better:
        return "identity"
    if np.all(c.y > 0) and c.y.max() / c.y.min() > 10:  # multiplicative quantity (perplexity)
        return "neglog10"
    return "negate"


def _orient(kind: str, y):
    if kind == "neglog10":
        return -np.log10(np.maximum(y, 1e-300))
    return -y if kind == "negate" else y


def oriented(c: Curve) -> tuple[np.ndarray, np.ndarray, float | None]:
    """y, se and baseline transformed so that higher is better."""
    kind = _orientation(c)
    y, se, b = c.y.astype(float), c.se.astype(float), c.baseline
    if kind == "neglog10":
        se = se / (y * math.log(10))
    y = _orient(kind, y)
    if b is not None:
        b = None if (kind == "neglog10" and b <= 0) else float(_orient(kind, np.float64(b)))
    return y, np.maximum(se, 1e-12), b


def best_oriented(c: Curve) -> float | None:
    """The metric's best possible value on the oriented scale, from the registry."""
    entry = lookup(c.metric)
    if entry is None or entry.best is None:
        return None
    kind = _orientation(c)
    if kind == "neglog10" and entry.best <= 0:
        return None
    return float(_orient(kind, np.float64(entry.best)))


def undo(c: Curve, v: float) -> float:
    """A level on the oriented scale back in the metric's own units."""
    kind = _orientation(c)
    return 10 ** (-v) if kind == "neglog10" else (-v if kind == "negate" else v)


def orient_values(c: Curve, y):
    """Values in the metric's own units on the curve's oriented scale."""
    return _orient(_orientation(c), y)


def seed_curves(c: Curve) -> list:
    """Each seed's points on the curve's oriented scale (analysis/verdicts/seeds.py), with its fit."""
    from .seeds import SeedCurve

    if c.seed_curves is not None:
        return c.seed_curves
    kind = _orientation(c)
    out = []
    for seed, (xs, ys, ses) in sorted(c.seed_points.items()):
        if len(xs) < 4:
            continue
        if kind == "neglog10":  # a seed at 0 where the mean is not: that point says nothing
            with np.errstate(divide="ignore", over="ignore"):
                ses = np.minimum(ses / (np.maximum(ys, 1e-300) * math.log(10)), 1e6)
        out.append(SeedCurve(seed, np.log10(xs), _orient(kind, ys.astype(float)),
                             np.maximum(ses, 1e-12)))
    c.seed_curves = out
    return out
