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
- emergent: a significant rise, with at least two leading points within noise of the lower level
  (the baseline when given) — Wei et al. 2022's "near random, then clearly above" — and a
  threshold model explaining the curve decisively better than a log-linear trend
  (BIC difference >= 10, "very strong" on Kass & Raftery's 1995 scale).
- smooth: any other significant rise: predictable from a log-linear trend.
- metric_induced: emergent under a discontinuous metric (exact match, accuracy, multiple-choice
  grade) while a continuous metric of the same task and models is smooth (Schaeffer et al. 2023).

Curves are analysed oriented so that higher is better; lower-is-better metrics that span more
than a decade (perplexity) are analysed as -log10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

DISCONTINUOUS = {"exact_match", "acc", "acc_norm", "multiple_choice_grade", "exact_str_match",
                 "case_insensitive_str_match"}
CONTINUOUS_HINTS = ("token_accuracy", "target_logprob", "edit_distance", "brier", "ppl",
                    "perplexity", "log_likelihood", "logprob", "bleu", "rouge", "bleurt",
                    "bertscore", "loss")
LOWER_IS_BETTER = ("ppl", "perplexity", "loss", "edit_distance", "brier", "ece",
                   "expected_calibration_error")
GROUP_KEYS = ["family", "task", "variant", "shots"]
Z = 2.0              # "significant": two standard errors, combined
BIC_DECISIVE = 10.0  # Kass & Raftery 1995: a BIC difference above 10 is very strong evidence
BOOT = 500           # parametric bootstrap replicates for the threshold interval


def lower_is_better(metric: str) -> bool:
    m = metric.lower()
    return any(k in m for k in LOWER_IS_BETTER)


def is_discontinuous(metric: str) -> bool:
    """All-or-nothing per example: exact match, accuracy, multiple-choice grade."""
    m = metric.lower()
    return (m in DISCONTINUOUS or "exact_match" in m or "exact_str_match" in m
            or m.endswith("option_accuracy") or "multiple_choice" in m)


def is_continuous(metric: str) -> bool:
    """Partial credit per example: token accuracy, log-probabilities, distances, Brier, BLEU."""
    m = metric.lower()
    return not is_discontinuous(m) and any(k in m for k in CONTINUOUS_HINTS)


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
    threshold_boot: np.ndarray | None = None  # bootstrap thresholds (log10 x), set by classify
    # per-example scores behind each point (from stored samples), for bootstrap over examples
    examples: list[np.ndarray] | None = None


# ---------------------------------------------------------------------------------------------
# building curves from a table
# ---------------------------------------------------------------------------------------------

def _noise(g: pd.DataFrame, y: np.ndarray, metric: str) -> tuple[np.ndarray, str]:
    if {"ci_low", "ci_high"} <= set(g.columns) and g[["ci_low", "ci_high"]].notna().all().all():
        width = (g["ci_high"] - g["ci_low"]).to_numpy(float)
        if np.all(width > 0):
            return width / (2 * 1.96), "interval"
    if "stderr" in g.columns and g["stderr"].notna().all() and (g["stderr"] > 0).all():
        return g["stderr"].to_numpy(float), "stderr"
    proportion = is_discontinuous(metric) or "accuracy" in metric.lower()
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


def build_curves(df: pd.DataFrame, x: str, pool_families: bool = False) -> list[Curve]:
    """One curve per (family, task, variant, shots, metric); pool_families puts every model in
    one family (cross-family scaling, as Lu et al. 2024 and Wei et al. 2022 plot it)."""
    df = df.copy()
    if pool_families:
        df["family"] = "pooled"
    if {"n_layer", "d_model", "family"} <= set(df.columns) and df["n_layer"].notna().any():
        # a ladder that varies depth at a fixed width (1- vs 2-layer members) is an ablation of
        # depth, not a scale axis: one curve per depth
        depths = df.groupby(["family", "d_model"])["n_layer"].nunique()
        ablated = set(depths[depths > 1].index.get_level_values(0))
        mask = df["family"].isin(ablated)
        df.loc[mask, "family"] = (df.loc[mask, "family"].astype(str) + "/L"
                                  + df.loc[mask, "n_layer"].astype(int).astype(str))
    for k in GROUP_KEYS:
        if k not in df.columns:
            df[k] = None
    df[GROUP_KEYS] = df[GROUP_KEYS].astype(object).where(df[GROUP_KEYS].notna(), None)
    model_col = "model_id" if "model_id" in df.columns else ("model" if "model" in df.columns else None)
    if x != "step" and model_col is not None:
        # each model contributes its last checkpoint; a model is a model_id within its family
        # (a suite trains an L2-d32-s0 in several experiments, each with its own last step)
        def model(df):
            return [df["family"].fillna("").astype(str), df[model_col]]

        if "final_checkpoint" in df.columns and df["final_checkpoint"].notna().any():
            fc = df["final_checkpoint"].astype(str).str.lower().isin(["true", "1", "1.0"])
            has_fc = fc.groupby(model(df)).transform("any")
            df = df[fc | ~has_fc]
        if "step" in df.columns and df["step"].notna().any():
            last = df.groupby(model(df))["step"].transform("max")
            df = df[(df["step"] == last) | df["step"].isna()]
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
        if "stderr" in agg:  # seeds averaged: the standard error of a mean of k values
            g = g.assign(stderr=g["stderr"] ** 2)
        grouped = g.groupby(x, as_index=False).agg(agg)
        counts = g.groupby(x).size().to_numpy()
        if "stderr" in agg:
            grouped["stderr"] = np.sqrt(grouped["stderr"]) / np.sqrt(counts)
        grouped = grouped.sort_values(x)
        metric = key[-1]
        y = grouped["value"].to_numpy(float)
        higher = True
        if "higher_is_better" in g.columns and g["higher_is_better"].notna().any():
            v = g["higher_is_better"].dropna().iloc[0]
            higher = str(v).lower() in ("true", "1", "1.0")
        else:
            higher = not lower_is_better(metric)
        se, source = _noise(grouped, y, metric)
        baseline = None
        if "baseline" in grouped.columns and grouped["baseline"].notna().any():
            baseline = float(grouped["baseline"].dropna().mean())
        n = grouped["n"].to_numpy(float) if "n" in grouped.columns else None
        keys = {k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else v)
                for k, v in zip(GROUP_KEYS, key[:-1])}
        curves.append(Curve(keys, metric, x,
                            grouped[x].to_numpy(float), y, se, n, baseline, higher, source))
    return curves


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


def _oriented(c: Curve) -> tuple[np.ndarray, np.ndarray, float | None]:
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


def _chi2_logistic(t, y, se) -> float:
    """Best chi-square of y = lo + (hi - lo) sigmoid((t - t0) / w) (4 parameters). For fixed
    (t0, w) the model is linear in (lo, hi), so those are solved exactly on a dense grid of
    midpoints (across the observed range) and widths (1/200 of the range to the whole range)."""
    span = t.max() - t.min()
    t0 = np.linspace(t.min(), t.max(), 81)
    w = span * np.logspace(-2.3, 0, 24)
    z = (t[None, None, :] - t0[:, None, None]) / w[None, :, None]
    s = 0.5 * (1 + np.tanh(z / 2))  # the logistic, without overflow
    iv = 1 / se**2
    # weighted normal equations for y ~ a + b s, per grid cell
    S0, S1, S2 = iv.sum(), (iv * s).sum(-1), (iv * s * s).sum(-1)
    Y0, Y1 = (iv * y).sum(), (iv * s * y).sum(-1)
    det = S0 * S2 - S1 * S1
    ok = det > 1e-12 * S0 * np.maximum(S2, 1e-300)
    det = np.where(ok, det, 1.0)
    a = (S2 * Y0 - S1 * Y1) / det
    b = (S0 * Y1 - S1 * Y0) / det
    resid = (a[..., None] + b[..., None] * s - y) / se
    chi = np.where(ok, (resid**2).sum(-1), np.inf)
    return float(chi.min())


def crossing(t: np.ndarray, Y: np.ndarray, level: np.ndarray) -> np.ndarray:
    """First log-x where each row of Y reaches its level (linear interpolation); NaN if never."""
    above = Y >= level[:, None]
    first = np.argmax(above, axis=1)
    out = np.full(len(Y), np.nan)
    ok = above.any(1)
    for i in np.nonzero(ok)[0]:
        j = first[i]
        if j == 0:
            out[i] = t[0]
            continue
        y0, y1 = Y[i, j - 1], Y[i, j]
        frac = (level[i] - y0) / (y1 - y0) if y1 != y0 else 0.0
        out[i] = t[j - 1] + frac * (t[j] - t[j - 1])
    return out


def replicates(c: Curve, sub: slice, rng: np.random.Generator) -> np.ndarray:
    """BOOT bootstrap copies of the oriented points c[sub] (BOOT x points): resampled examples
    when the curve has them, else drawn from the points' noise model."""
    if c.examples is not None:
        idx = range(len(c.x))[sub]
        Y = np.stack([c.examples[i][rng.integers(0, len(c.examples[i]), (BOOT, len(c.examples[i])))]
                      .mean(1) for i in idx], axis=1)
        return _orient(_orientation(c), Y)
    if c.noise_source == "binomial" and c.n is not None and c.higher_is_better:
        p, n = np.clip(c.y[sub], 0, 1), c.n[sub]
        return rng.binomial(n.astype(int)[None, :], p[None, :], size=(BOOT, len(p))) / n[None, :]
    y, se, _ = _oriented(c)
    return y[sub][None, :] + rng.normal(size=(BOOT, len(y[sub]))) * se[sub][None, :]


def _threshold(c: Curve, sub: slice, t, y, lower: float, rng):
    """Threshold, its 95% interval, the 10-90% width in decades and the bootstrap thresholds
    (log10), on points c[sub] (oriented t, y given)."""
    upper = y.max()
    mid = np.array([(lower + upper) / 2])
    thr = crossing(t, y[None], mid)[0]
    lo10, hi90 = crossing(t, np.stack([y, y]), np.array([lower + 0.1 * (upper - lower),
                                                          lower + 0.9 * (upper - lower)]))
    sharp = float(hi90 - lo10)
    Y = replicates(c, sub, rng)
    mids = (lower + Y.max(1)) / 2
    boot = crossing(t, Y, mids)
    boot = boot[np.isfinite(boot)]
    ci = [float(10 ** np.quantile(boot, 0.025)), float(10 ** np.quantile(boot, 0.975))] if len(boot) else None
    return float(10**thr) if np.isfinite(thr) else None, ci, sharp, boot


def classify(c: Curve, rng: np.random.Generator) -> dict:
    t = np.log10(c.x)
    y, se, b = _oriented(c)
    n = len(t)
    res = {"classification": "insufficient", "threshold": None, "threshold_ci": None,
           "sharpness": None, "linearity": linearity(y) if n > 1 else None,
           "breakthroughness": breakthroughness(y) if n > 1 else None, "n_points": n}
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
        res["classification"] = "flat"
    elif (dip < start and dip < end and start - dip > z_bonf * math.hypot(s_start, s_dip)
          and end - dip > z_bonf * math.hypot(s_end, s_dip)):
        res["classification"] = "u_shaped"
    elif end < start and _sig(end, s_end, start, s_start):
        res["classification"] = "inverse"
    elif end > start and _sig(end, s_end, start, s_start):
        lower = b if b is not None else y[0]
        near = y - lower <= Z * se
        lead = int(np.argmin(near)) if not near.all() else n
        emergent = (2 <= lead < n
                    and _chi2_logistic(t, y, se) + 4 * math.log(n) + BIC_DECISIVE
                    <= _chi2_linear(t, y, se) + 2 * math.log(n))
        res["classification"] = "emergent" if emergent else "smooth"
    else:
        res["classification"] = "flat"
    if res["classification"] in ("emergent", "smooth", "u_shaped"):
        lower = b if (b is not None and res["classification"] != "u_shaped") else (
            y[i_min] if res["classification"] == "u_shaped" else y[0])
        sub = slice(i_min, None) if res["classification"] == "u_shaped" else slice(None)
        thr, ci, sharp, boot = _threshold(c, sub, t[sub], y[sub], lower, rng)
        c.threshold_boot = boot  # for comparing thresholds between runs (analysis/compare.py)
        res.update(threshold=thr, threshold_ci=ci, sharpness=sharp,
                   threshold_ci_from="examples" if c.examples is not None else c.noise_source)
    return res


def backtest(c: Curve, k: int) -> float | None:
    """Fit log-linear on all but the largest k points, predict them; mean absolute error in the
    metric's own units."""
    if k <= 0 or len(c.x) - k < 2:
        return None
    t = np.log10(c.x)
    coef = np.polyfit(t[:-k], c.y[:-k], 1)
    return float(np.mean(np.abs(np.polyval(coef, t[-k:]) - c.y[-k:])))


def analyze_curves(curves: list[Curve], backtest_k: int = 0, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    for c in curves:
        c.result = classify(c, rng)
        if backtest_k:
            c.result["backtest_error"] = backtest(c, backtest_k)
    # the mirage test: a discontinuous metric's jump next to a smooth continuous metric
    by_group: dict[tuple, list[Curve]] = {}
    for c in curves:
        by_group.setdefault(tuple(c.keys.values()), []).append(c)
    for group in by_group.values():
        smooth_cont = [c.metric for c in group
                       if is_continuous(c.metric) and c.result["classification"] == "smooth"]
        for c in group:
            if (is_discontinuous(c.metric) and c.result["classification"] == "emergent"
                    and smooth_cont):
                c.result["classification"] = "metric_induced"
                c.result["smooth_under"] = sorted(smooth_cont)
    out = []
    for c in curves:
        row = {**{k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else v)
                  for k, v in c.keys.items()},
               "metric": c.metric, "x": c.x_name, **c.result, "noise": c.noise_source}
        for k, v in list(row.items()):
            if isinstance(v, float) and not math.isfinite(v):
                row[k] = None
            elif isinstance(v, (np.integer,)):
                row[k] = int(v)
        out.append(row)
    return out


def attach_examples(curves: list[Curve], per_example: pd.DataFrame) -> int:
    """Give curves the per-example scores behind each point. per_example has the group columns,
    metric, the curve's x column and value (one row per example); returns curves matched."""
    matched = 0
    for c in curves:
        sel = per_example[per_example["metric"] == c.metric]
        for k, v in c.keys.items():
            if k in sel.columns and v is not None and k != "family":
                sel = sel[sel[k] == v]
        groups = {x: g["value"].to_numpy(float) for x, g in sel.groupby(c.x_name)}
        if all(x in groups and len(groups[x]) for x in c.x):
            c.examples = [groups[x] for x in c.x]
            matched += 1
    return matched
