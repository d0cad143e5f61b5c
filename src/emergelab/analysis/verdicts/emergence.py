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

import numpy as np
from scipy.stats import chi2, norm

from ...errors import UserError
from ...numbers import num
from ...evaluate.registry import is_continuous, is_discrete
from .curves import Curve, best_oriented, orient_values, oriented, seed_curves, undo
from .threshold import best_level, crossing, crossing_interval, fit_logistic, halfway_levels

Z = 2.0              # "significant": two standard errors, combined
BIC_DECISIVE = 10.0  # Kass & Raftery 1995: a BIC difference above 10 is very strong evidence
CONF = 0.95          # confidence of threshold intervals
HARD_WIDTH = 1.0     # decades: the widest 10-90% rise still called hard emergence
USEFUL = 0.5         # usefulness level: this share of the way from the lower level to the best


# ---------------------------------------------------------------------------------------------
# per-curve statistics
# ---------------------------------------------------------------------------------------------

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


def _population(c: Curve, lower: float, res: dict) -> None:
    """A multi-seed curve's threshold as the recipe's: where the mean over seeds crosses halfway
    from the lower level to the seeds' mean top, with the interval of the seed random-effects
    profile (analysis/verdicts/seeds.py); each seed's own threshold; the spread; per size, the share of
    seeds past the level (emergence probability)."""
    from .seeds import population_threshold, seed_threshold, wilson

    seeds = seed_curves(c)
    t = np.log10(c.x)
    level = (lower + float(np.mean([s.top() for s in seeds]))) / 2
    est = _crossing1(t, orient_values(c, c.y.astype(float)), level)
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
        k = int(sum(orient_values(c, np.float64(v)) >= level for v in past))
        lo, hi = wilson(k, len(past), CONF)
        prob.append({"x": float(xi), "seeds": len(past), "share": k / len(past),
                     "ci": [lo, hi]})
    res["emergence_probability"] = prob


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
