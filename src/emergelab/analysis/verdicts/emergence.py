"""Emergence detection and classification for any results table.

A curve is one (family, task, variant, shots, metric) series over a scale axis. Each is
classified from its points and their noise (intervals, stderr, or n), never from constants fitted
to a data set:

- insufficient: fewer than 4 distinct scales.
- flat: a constant fits within noise (chi-square test of the weighted mean, p > 0.05).
- u_shaped: the lowest interior 3-point average lies significantly below both the start and the
  end (two-sided 5%, Bonferroni-corrected for the choice among interior points) — Wei et al.
  2022b's "worse, then better".
- inverse: the end (mean of the two largest scales) is significantly below the start.
- emergent: a significant rise with a threshold shape — at least two leading points within noise
  of the lower level (the baseline when given; Wei et al. 2022's "near random, then clearly
  above") and a logistic in log x explaining the curve decisively better than a log-linear trend
  (BIC difference >= 10, "very strong" on Kass & Raftery's 1995 scale) — whose 10-90% rise is no
  wider than the hard width (default 1 decade). A wider rise is not emergent, however it looks.
- smooth: any other significant rise.
- metric_induced: a threshold shape (any width) under a discrete metric (all-or-nothing per
  example) while a continuous metric of the same task and models is smooth (Schaeffer et al. 2023).

Every curve also gets `emergence`, one of three kinds of emergence:
- "hard": emergent — near its baseline, then a rise within the hard width.
- "fake": metric_induced — sharp under a discrete metric, smooth under a continuous metric of the
  same outputs (the "mirage").
- "soft": a smooth rise that crosses the usefulness level (`useful`, default 0.5 of the way from the
  lower level to the metric's best value); `useful_at` says where.
- None otherwise (flat, inverse, U-shaped, a rise that stays below the usefulness level).

Each rising curve gets its threshold — where it crosses halfway between its lower level and its
top — with a calibrated interval (analysis/verdicts/threshold.py: profile likelihood under a logistic in
log x, which puts a rise between two members anywhere in that bracket), the 10-90% width of the
best logistic in decades, and BIG-bench's linearity and breakthroughness.

Curves are analysed oriented so that higher is better; lower-is-better metrics that span more
than a decade (perplexity) are analysed as -log10. What a metric is (direction, discrete or
continuous, best value) comes from the metric registry (evaluate/registry.py); a table's own
higher_is_better column wins for direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from ...errors import UserError
from ...numbers import num
from ...sources import GROUP_KEYS, final_rows, normalise
from ...evaluate.registry import is_continuous, is_discrete, lookup
from .threshold import best_level, crossing, crossing_interval, fit_logistic, halfway_levels

Z = 2.0              # "significant": two standard errors, combined
BIC_DECISIVE = 10.0  # Kass & Raftery 1995: a BIC difference above 10 is very strong evidence
CONF = 0.95          # confidence of threshold intervals
HARD_WIDTH = 1.0     # decades: the widest 10-90% rise still called hard emergence
USEFUL = 0.5         # usefulness level: this share of the way from the lower level to the best


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


# ---------------------------------------------------------------------------------------------
# building curves from a table
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# per-curve statistics
# ---------------------------------------------------------------------------------------------

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


def linearity(y: np.ndarray) -> float:
    """BIG-bench linearity: mean step over root-mean-square step (1 for a straight rise)."""
    d = np.diff(y)
    rms = math.sqrt(np.mean(d * d)) if len(d) else 0.0
    return float(np.mean(d) / rms) if rms > 0 else float("nan")


def breakthroughness(y: np.ndarray) -> float:
    """BIG-bench's emergence score as Schaeffer et al. quote it:
    sign(argmax - argmin) (max - min) / sqrt(median of squared steps)."""
    d = np.diff(y)
    med = math.sqrt(np.median(d * d)) if len(d) else 0.0
    if med == 0:
        return float("nan")
    return float(np.sign(np.argmax(y) - np.argmin(y)) * (y.max() - y.min()) / med)


def _sig(a, sa, b, sb) -> bool:
    return abs(a - b) > Z * math.sqrt(sa * sa + sb * sb)


def _chi2_linear(t, y, se) -> float:
    w = 1 / se**2
    A = np.stack([np.ones_like(t), t], 1)
    coef, *_ = np.linalg.lstsq(A * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)
    return float(np.sum(((A @ coef - y) / se) ** 2))


def _crossing1(t: np.ndarray, y: np.ndarray, level: float) -> float:
    return float(crossing(t, y[None], np.array([level]))[0])


def best_oriented(c: Curve) -> float | None:
    """The metric's best possible value on the oriented scale, from the registry."""
    entry = lookup(c.metric)
    if entry is None or entry.best is None:
        return None
    kind = _orientation(c)
    if kind == "neglog10" and entry.best <= 0:
        return None
    return float(_orient(kind, np.float64(entry.best)))


def _rise(c: Curve, t, y, se, lower: float, res: dict) -> None:
    """Threshold, its interval and the width of a rising curve (t, y, se oriented)."""
    fit = fit_logistic(t, y, se)
    c.fit = fit
    levels = halfway_levels(fit, lower, float(y.max()))
    level = best_level(fit, levels)
    est = _crossing1(t, y, level)
    ci = crossing_interval(fit, levels, CONF, est)
    res.update(threshold=float(10**est) if np.isfinite(est) else None,
               threshold_ci=[float(10**ci.low) if math.isfinite(ci.low) else None,
                             float(10**ci.high) if math.isfinite(ci.high) else None],
               threshold_ci_kind=ci.kind, width_decades=fit.width_decades)


def classify(c: Curve, hard_width: float = HARD_WIDTH, useful: float = USEFUL) -> dict:
    t = np.log10(c.x)
    y, se, b = oriented(c)
    n = len(t)
    res = {"classification": "insufficient", "emergence": None, "threshold": None,
           "threshold_ci": None, "threshold_ci_kind": None, "width_decades": None,
           "useful_level": None, "useful_at": None,
           "linearity": linearity(y) if n > 1 else None,
           "breakthroughness": breakthroughness(y) if n > 1 else None, "n_points": n,
           "reason": f"{n} sizes: a class needs at least 4", "why": "<4 sizes",
           # the ladder's span; a fitted rise wider than it is open (the data show only part)
           "ladder_decades": float(t[-1] - t[0]) if n > 1 else 0.0, "width_open": None,
           "width_bound": None, "fit_width_decades": None,
           **_seed_summary(c)}
    if n < 4:
        return res
    w = 1 / se**2
    mean = np.sum(w * y) / np.sum(w)
    p_const = float(chi2.sf(np.sum(((y - mean) / se) ** 2), n - 1))
    start, s_start = y[:2].mean(), math.sqrt(np.sum(se[:2] ** 2)) / 2
    end, s_end = y[-2:].mean(), math.sqrt(np.sum(se[-2:] ** 2)) / 2
    # the dip: the lowest interior 3-point average, tested against both ends with a Bonferroni
    # correction for having picked the lowest of n - 2 candidates
    smooth_y = np.convolve(y, np.ones(3) / 3, mode="same")[1:-1]
    smooth_se = np.sqrt(np.convolve(se**2, np.ones(3), mode="same")[1:-1]) / 3
    j = int(np.argmin(smooth_y))
    dip, s_dip = smooth_y[j], smooth_se[j]
    i_min = 1 + j
    z_bonf = float(norm.ppf(1 - 0.025 / max(1, n - 2)))
    if p_const > 0.05:
        res.update(classification="flat", why="no change",
                   reason=f"no size differs from the others beyond its noise (p = {p_const:.2f})")
    elif (dip < start and dip < end and start - dip > z_bonf * math.hypot(s_start, s_dip)
          and end - dip > z_bonf * math.hypot(s_end, s_dip)):
        res.update(classification="u_shaped", why="dip",
                   reason="falls significantly below both ends, then rises again")
        _rise(c, t[i_min:], y[i_min:], se[i_min:], float(y[i_min]), res)
    elif end < start and _sig(end, s_end, start, s_start):
        res.update(classification="inverse", why="falls",
                   reason="the largest sizes score significantly worse than the smallest")
    elif end > start and _sig(end, s_end, start, s_start):
        lower = b if b is not None else float(y[0])
        _rise(c, t, y, se, lower, res)
        near = y - lower <= Z * se
        lead = int(np.argmin(near)) if not near.all() else n
        decisive = (c.fit.chi_min + 4 * math.log(n) + BIC_DECISIVE
                    <= _chi2_linear(t, y, se) + 2 * math.log(n))
        width = res["width_decades"]
        if c.multi_seed:
            _population(c, lower, res)
            # seeds that each jump sharply at different sizes make a wider mean curve: how
            # sharp the ability appears is a fact about each run
            if res["seed_width_decades"] is not None:
                width = res["seed_width_decades"]
        c.sharp = bool(decisive and width <= hard_width)
        c.threshold_shape = bool(decisive and 2 <= lead < n)
        res["classification"] = "emergent" if c.threshold_shape and c.sharp else "smooth"
        _measured_width(res)
        res["why"], res["reason"] = _rise_reason(c, res, decisive, width, hard_width, lead, n)
        best = best_oriented(c)
        if best is not None and best > lower:
            res["useful_level"] = float(undo(c, lower + useful * (best - lower)))
            at = _crossing1(t, y, lower + useful * (best - lower))
            res["useful_at"] = float(10**at) if np.isfinite(at) else None
    else:
        res.update(classification="flat", why="no rise",
                   reason="the ends do not differ significantly")
    return res


def _measured_width(res: dict) -> None:
    """The width every table, plot and read-out shows, as far as the data can tell it: the gap
    between two members when the whole rise lies inside it (at most), the ladder's span when the
    fitted rise is wider than the ladder (at least: open), else the fitted logistic's. The fit's
    own width stays in fit_width_decades."""
    fit_w = res["width_decades"]
    if fit_w is None or not math.isfinite(fit_w):
        return
    res["fit_width_decades"] = fit_w
    lo, hi = res["threshold_ci"] or (None, None)
    if res["threshold_ci_kind"] == "bracket" and lo and hi:
        res["width_decades"], res["width_bound"] = float(math.log10(hi / lo)), "at most"
        res["width_open"] = False
    elif fit_w > res["ladder_decades"]:
        res["width_decades"], res["width_bound"] = res["ladder_decades"], "at least"
        res["width_open"] = True
    else:
        res["width_open"] = False


def width_words(res: dict) -> str:
    """A width as the verdict read it: "0.19 decades", "at most 0.52 decades (between two
    members)", "at least 2.25 decades (wider than the ladder)"."""
    w, bound = res.get("width_decades"), res.get("width_bound")
    if w is None:
        return "no width"
    if bound == "at most":
        return f"at most {w:.2f} decades, the gap between two members"
    if bound == "at least":
        return f"at least {w:.2f} decades, wider than the ladder"
    return f"{w:.2f} decades"


def _rise_reason(c: Curve, res: dict, decisive: bool, width: float, hard_width: float,
                 lead: int, n: int) -> tuple[str, str]:
    """Which rule made a rising curve emergent or smooth: (a short phrase, the sentence)."""
    w = (f"{width:.2f} decades (one seed's)" if c.multi_seed else width_words(res))
    if not decisive:
        return "line fits", ("a straight line in log size fits about as well as a sudden rise "
                             "(BIC): no threshold shape")
    if lead < 2:
        return "no flat start", (f"already above its baseline at the {'smallest' if lead == 0 else 'second-smallest'} "
                                 "size: no stretch near chance before the rise")
    if lead >= n:
        return "never above", "no size is clearly above the baseline's noise"
    if width > hard_width:
        return "wide rise", (f"near baseline for {lead} sizes, then a rise wider than "
                             f"{hard_width:g} decade (10-90%: {w})")
    return "sharp rise", (f"near baseline for {lead} sizes, then a rise within {hard_width:g} "
                          f"decade (10-90%: {w}) that a line cannot fit (BIC)")


def _seed_summary(c: Curve) -> dict:
    """How many seeds stand behind each size; whether seed-to-seed variation is measured."""
    counts = {}
    for xs, _, _ in c.seed_points.values():
        for xi in xs:
            counts[float(xi)] = counts.get(float(xi), 0) + 1
    return {"seeds": [{"x": xi, "count": counts.get(float(xi), 1)} for xi in c.x],
            "seed_variance": "measured" if c.multi_seed else "not measured",
            "seed_thresholds": None, "seed_spread_decades": None, "seed_width_decades": None,
            "emergence_probability": None}


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


def _population(c: Curve, lower: float, res: dict) -> None:
    """A multi-seed curve's threshold as the recipe's: where the mean over seeds crosses halfway
    from the lower level to the seeds' mean top, with the interval of the seed random-effects
    profile (analysis/verdicts/seeds.py); each seed's own threshold; the spread; per size, the share of
    seeds past the level (emergence probability)."""
    from .seeds import population_threshold, seed_threshold, wilson

    seeds = seed_curves(c)
    t = np.log10(c.x)
    level = (lower + float(np.mean([s.top() for s in seeds]))) / 2
    est = _crossing1(t, _orient(_orientation(c), c.y.astype(float)), level)
    pop = population_threshold(seeds, level, CONF, est if np.isfinite(est) else None)
    own = [seed_threshold(s, lower, CONF) for s in seeds]
    ts = [o["t"] for o in own if o["t"] is not None]
    widths = [o["width"] for o in own if o["width"] is not None]

    def x_of(v):
        return float(10**v) if v is not None and math.isfinite(v) else None

    res.update(threshold=x_of(est), threshold_ci=[x_of(pop["low"]), x_of(pop["high"])],
               threshold_ci_kind="seeds",
               seed_thresholds=[{"seed": o["seed"], "threshold": x_of(o["t"]),
                                 "threshold_ci": [x_of(o["ci"][0]), x_of(o["ci"][1])]}
                                for o in own],
               seed_spread_decades=float(np.std(ts, ddof=1)) if len(ts) >= 2 else None,
               seed_width_decades=float(np.median(widths)) if widths else None)
    prob = []
    for xi in c.x:
        past = [float(ys[xs == xi][0]) for xs, ys, _ in c.seed_points.values()
                if np.any(xs == xi)]
        k = int(sum(_orient(_orientation(c), np.float64(v)) >= level for v in past))
        lo, hi = wilson(k, len(past), CONF)
        prob.append({"x": float(xi), "seeds": len(past), "share": k / len(past),
                     "ci": [lo, hi]})
    res["emergence_probability"] = prob


def undo(c: Curve, v: float) -> float:
    """A level on the oriented scale back in the metric's own units."""
    kind = _orientation(c)
    return 10 ** (-v) if kind == "neglog10" else (-v if kind == "negate" else v)


def emergence_kind(res: dict) -> str | None:
    """hard / fake / soft (or None) from a curve's classification and usefulness crossing."""
    cls = res["classification"]
    if cls == "emergent":
        return "hard"
    if cls == "metric_induced":
        return "fake"
    if cls == "smooth" and res.get("useful_at") is not None:
        return "soft"
    return None


def analyze_curves(curves: list[Curve], hard_width: float = HARD_WIDTH,
                   useful: float = USEFUL) -> list[dict]:
    if not hard_width > 0:
        raise UserError("`hard_width` must be a positive number of decades")
    if not 0 < useful <= 1:
        raise UserError("`useful` must be in (0, 1]: a share of the way from the baseline to "
                        "the metric's best value")
    for c in curves:
        c.result = classify(c, hard_width, useful)
    # the mirage test: a discrete metric's threshold shape next to a continuous metric of the
    # same outputs whose rise is smooth (not sharp, whatever its leading points)
    by_group: dict[tuple, list[Curve]] = {}
    for c in curves:
        by_group.setdefault(tuple(c.keys.values()), []).append(c)
    for group in by_group.values():
        smooth_cont = [c.metric for c in group if is_continuous(c.metric)
                       and c.result["classification"] == "smooth" and not c.sharp]
        for c in group:
            if is_discrete(c.metric) and c.threshold_shape and smooth_cont:
                c.result["classification"] = "metric_induced"
                c.result["smooth_under"] = sorted(smooth_cont)
                c.result["why"] = "metric"
                c.result["reason"] = (f"a threshold shape under {c.metric}, a smooth rise under "
                                      f"{', '.join(sorted(smooth_cont))} of the same outputs")
    out = []
    for c in curves:
        c.result["emergence"] = emergence_kind(c.result)
        if c.result["emergence"] == "soft":  # the usefulness crossing, named as what it is
            c.result["reason"] += (f"; soft: reaches the usefulness level "
                                   f"{num(c.result['useful_level'])} at {num(c.result['useful_at'])}")
        row = {**{k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else v)
                  for k, v in c.keys.items()},
               "metric": c.metric, "x": c.x_name, **c.result, "noise": c.noise_source}
        for k, v in list(row.items()):
            if isinstance(v, float) and not math.isfinite(v):
                row[k] = None
            elif isinstance(v, (np.integer,)):
                row[k] = int(v)
            elif isinstance(v, np.bool_):
                row[k] = bool(v)
        out.append(row)
    return out
