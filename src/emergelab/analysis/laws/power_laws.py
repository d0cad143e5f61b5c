"""One-variable scaling laws: Kaplan et al. 2020's L(x) = (x_c / x)^alpha (optionally + E), and a
smoothly broken power law (Caballero et al. 2022) for curves that bend.

Both are fitted in log space (relative errors, as the laws are used across decades), with
bootstrap intervals over points.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from ...errors import UserError


def params_frame(params: dict[str, float], ci: dict[str, list[float]]):
    """A fit's parameters as a table: param, value, ci_low, ci_high (None without intervals)."""
    import pandas as pd

    return pd.DataFrame([{"param": k, "value": v, "ci_low": ci.get(k, [None, None])[0],
                          "ci_high": ci.get(k, [None, None])[1]} for k, v in params.items()])


@dataclass
class CurveFit:
    law: str
    params: dict[str, float]
    n_points: int
    rmse_log: float
    ci: dict[str, list[float]] = field(default_factory=dict)
    formula: str = ""
    warnings: list[str] = field(default_factory=list)  # what the data cannot identify

    def to_json(self) -> dict:
        return {"law": self.law, "formula": self.formula, "params": self.params, "ci": self.ci,
                "n_points": self.n_points, "rmse_log": self.rmse_log, "warnings": self.warnings}

    def to_frame(self):
        return params_frame(self.params, self.ci)

    def check_intervals(self, decades: float = 3.0) -> None:
        """A warning for every positive parameter whose interval spans more than `decades`."""
        for k, (lo, hi) in self.ci.items():
            if lo and hi and lo > 0 and hi / lo > 10**decades:
                self.warnings.append(f"{k} is not determined by these points: its interval spans "
                                     f"{np.log10(hi / lo):.1f} decades")


def _check(x, y, n_params: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise UserError("x and y must be finite numbers (found NaN or inf)")
    if np.any(x <= 0) or np.any(y <= 0):
        raise UserError("power laws need positive x and y")
    if len(x) < n_params + 1:
        raise UserError(f"{len(x)} points are too few for {n_params} parameters")
    return x, y


def _percentile_ci(samples: np.ndarray, names: list[str], level: float) -> dict[str, list[float]]:
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    return {k: [float(np.nanquantile(samples[:, i], lo)), float(np.nanquantile(samples[:, i], hi))]
            for i, k in enumerate(names)}


# ---------------------------------------------------------------------------------------------
# Kaplan: L = (x_c / x)^alpha  [+ E]
# ---------------------------------------------------------------------------------------------

def kaplan_predict(params: dict[str, float], x) -> np.ndarray:
    x = np.asarray(x, float)
    return params.get("E", 0.0) + (params["x_c"] / x) ** params["alpha"]


def _kaplan_pure(lx: np.ndarray, ly: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Weighted least squares of log y = alpha log x_c - alpha log x; rows of w are resamples.
    Returns (k, 2) of (log x_c, alpha)."""
    w = np.ones((1, len(lx))) if w is None else w
    sw = w.sum(1)
    mx, my = (w * lx).sum(1) / sw, (w * ly).sum(1) / sw
    sxx = (w * (lx - mx[:, None]) ** 2).sum(1)
    sxy = (w * (lx - mx[:, None]) * (ly - my[:, None])).sum(1)
    slope = sxy / sxx
    alpha = -slope
    intercept = my - slope * mx
    return np.stack([intercept / alpha, alpha], axis=1)


def _kaplan_offset(lx: np.ndarray, ly: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """Least squares in log y of y = E + (x_c/x)^alpha over (log x_c, alpha, log E)."""
    y = np.exp(ly)

    def resid(p):
        return np.log(np.exp(p[2]) + np.exp(p[1] * (p[0] - lx))) - ly

    starts = [start] if start is not None else []
    pure = _kaplan_pure(lx, ly)[0]
    for frac in (0.1, 0.5, 0.9):
        starts.append(np.array([pure[0], max(pure[1], 0.05), np.log(frac * y.min())]))
    best = None
    for s0 in starts:
        r = least_squares(resid, s0, method="lm")
        if best is None or r.cost < best.cost:
            best = r
    return best.x


def fit_kaplan(x, y, offset: bool = False, bootstrap: int = 0, seed: int = 0,
               level: float = 0.95) -> CurveFit:
    x, y = _check(x, y, 3 if offset else 2)
    lx, ly = np.log(x), np.log(y)
    names = ["x_c", "alpha"] + (["E"] if offset else [])
    if offset:
        p = _kaplan_offset(lx, ly)
        params = {"x_c": float(np.exp(p[0])), "alpha": float(p[1]), "E": float(np.exp(p[2]))}
    else:
        lxc, alpha = _kaplan_pure(lx, ly)[0]
        params = {"x_c": float(np.exp(lxc)), "alpha": float(alpha)}
    rmse = float(np.sqrt(np.mean((np.log(kaplan_predict(params, x)) - ly) ** 2)))
    fit = CurveFit("kaplan", params, len(x), rmse,
                   formula="L(x) = (x_c / x)^alpha" + (" + E" if offset else ""))
    if len(np.unique(x)) < 3:
        fit.warnings.append(f"x takes {len(np.unique(x))} value(s): a power law needs at least 3")
    if bootstrap:
        rng = np.random.default_rng(seed)
        w = rng.multinomial(len(x), np.full(len(x), 1 / len(x)), size=bootstrap).astype(float)
        if offset:
            samples = []
            for row in w:
                idx = np.repeat(np.arange(len(x)), row.astype(int))
                q = _kaplan_offset(lx[idx], ly[idx], start=p)
                samples.append([np.exp(q[0]), q[1], np.exp(q[2])])
            samples = np.array(samples)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                q = _kaplan_pure(lx, ly, w)  # degenerate resamples (one distinct x) give NaN
            with np.errstate(over="ignore"):
                samples = np.stack([np.exp(q[:, 0]), q[:, 1]], axis=1)
        fit.ci = _percentile_ci(samples, names, level)
        fit.check_intervals()
    return fit


# ---------------------------------------------------------------------------------------------
# Broken power law with one break (Caballero et al. 2022, eq. 1 with n = 1):
#   y = a + b x^(-c0) (1 + (x / d1)^(1 / f1))^(-c1 f1)
# Below the break the slope in log-log is -c0, above it -(c0 + c1); f1 sets its sharpness.
# ---------------------------------------------------------------------------------------------

BNSL_NAMES = ["a", "b", "c0", "c1", "d1", "f1"]


def bnsl_predict(params: dict[str, float], x) -> np.ndarray:
    x = np.asarray(x, float)
    p = params
    return p["a"] + p["b"] * x ** (-p["c0"]) * (1 + (x / p["d1"]) ** (1 / p["f1"])) ** (-p["c1"] * p["f1"])


def _bnsl_unpack(q: np.ndarray) -> dict[str, float]:
    # a, b, d1, f1 are positive: optimised as logs
    return {"a": float(np.exp(q[0])), "b": float(np.exp(q[1])), "c0": float(q[2]),
            "c1": float(q[3]), "d1": float(np.exp(q[4])), "f1": float(np.exp(q[5]))}


def _bnsl_fit(lx: np.ndarray, ly: np.ndarray, starts: list[np.ndarray]) -> np.ndarray:
    def resid(q):
        p = _bnsl_unpack(q)
        with np.errstate(over="ignore", invalid="ignore"):
            pred = bnsl_predict(p, np.exp(lx))
        out = np.log(np.maximum(pred, 1e-300)) - ly
        return np.where(np.isfinite(out), out, 1e3)

    best = None
    for s0 in starts:
        r = least_squares(resid, s0, method="trf", max_nfev=2000)
        if best is None or r.cost < best.cost:
            best = r
    return best.x


def _bnsl_starts(lx: np.ndarray, ly: np.ndarray) -> list[np.ndarray]:
    """A small grid: break location across the observed range, a few sharpnesses and slopes."""
    ymin = np.exp(ly.min())
    starts = []
    for q in (0.25, 0.5, 0.75):
        ld = np.quantile(lx, q)
        for lf in (np.log(0.1), np.log(1.0)):
            for c0, c1 in ((0.0, 0.5), (0.3, 0.3), (0.1, 1.0)):
                starts.append(np.array([np.log(0.5 * ymin), ly.max() + c0 * lx.min(), c0, c1, ld, lf]))
    return starts


def fit_bnsl(x, y, bootstrap: int = 0, seed: int = 0, level: float = 0.95) -> CurveFit:
    x, y = _check(x, y, 6)
    lx, ly = np.log(x), np.log(y)
    q = _bnsl_fit(lx, ly, _bnsl_starts(lx, ly))
    params = _bnsl_unpack(q)
    rmse = float(np.sqrt(np.mean((np.log(bnsl_predict(params, x)) - ly) ** 2)))
    fit = CurveFit("bnsl", params, len(x), rmse,
                   formula="y = a + b x^-c0 (1 + (x / d1)^(1 / f1))^(-c1 f1)")
    if not x.min() < params["d1"] < x.max():
        fit.warnings.append(f"the break d1 = {params['d1']:.3g} lies outside the points "
                            f"({x.min():.3g} to {x.max():.3g}): c1 and f1 are not identified")
    if bootstrap:
        rng = np.random.default_rng(seed)
        samples = []
        for _ in range(bootstrap):
            idx = rng.integers(0, len(x), len(x))
            samples.append(list(_bnsl_unpack(_bnsl_fit(lx[idx], ly[idx], [q])).values()))
        fit.ci = _percentile_ci(np.array(samples), BNSL_NAMES, level)
        fit.check_intervals()
    return fit
