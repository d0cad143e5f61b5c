"""Routes: the fitted forms behind a forecast (analysis/forecasting/forecast.py), each a line in
a transformed space, z = a + b·s, fitted by weighted least squares in the metric's own space.

A Link maps the metric's value to z (logit between a lower level and the best value, loglog for
a power law in the per-token loss, identity); fit_line fits one line with its Laplace covariance
(scaled up by the reduced chi-square when the points scatter more than their noise); a Route
holds the fit and N_DRAWS Student-t parameter draws and maps log10 x to the metric and a level
to its crossing, per draw. line_route, token_route and loss_route build the three built-in ones;
each carries `z`, how decisively its signal improves, in standard errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.special import expit

from ..verdicts.curves import Curve, best_oriented, oriented

LEVEL = 0.90        # level of every forecast interval
N_DRAWS = 4000      # parameter draws behind the intervals


@dataclass(frozen=True)
class Link:
    """z = g(u), u = (y - lower) / (upper - lower): "logit" (a logistic between lower and upper),
    "loglog" (u = exp(-exp(z)): a power law in the per-token loss) or "identity" (y itself)."""

    name: str
    lower: float = 0.0
    upper: float = 1.0

    def value(self, z):
        z = np.asarray(z, float)
        if self.name == "identity":
            return z
        u = expit(z) if self.name == "logit" else np.exp(-np.exp(np.clip(z, -50, 50)))
        return self.lower + (self.upper - self.lower) * u

    def z_of(self, y):
        """The z of a level (for crossings); NaN when the level lies outside (lower, upper)."""
        y = np.asarray(y, float)
        if self.name == "identity":
            return y
        u = (y - self.lower) / (self.upper - self.lower)
        with np.errstate(invalid="ignore", divide="ignore"):
            u = np.where((u > 0) & (u < 1), u, np.nan)
            return np.log(u / (1 - u)) if self.name == "logit" else np.log(-np.log(u))

    def z_guess(self, y):
        """Rough z of observed points (clipped into range) for the starting values."""
        if self.name == "identity":
            return np.asarray(y, float)
        span = self.upper - self.lower
        u = np.clip((np.asarray(y, float) - self.lower) / span, 0.02, 0.98)
        return self.z_of(self.lower + span * u)


@dataclass
class LineFit:
    link: Link
    coef: np.ndarray          # (a, b)
    cov: np.ndarray           # 2x2, scaled by the reduced chi-square when it exceeds 1
    dof: int

    def draws(self, rng: np.random.Generator, n: int = N_DRAWS) -> np.ndarray:
        """(n, 2) parameter draws from a multivariate Student-t around the fit."""
        cov = np.nan_to_num(self.cov, nan=0.0, posinf=1e12, neginf=-1e12)
        w, V = np.linalg.eigh((cov + cov.T) / 2)  # a degenerate fit: no negative variances
        g = rng.standard_normal((n, 2)) @ (V * np.sqrt(np.clip(w, 0, None))).T
        if self.dof > 0:
            g *= np.sqrt(self.dof / rng.chisquare(self.dof, size=(n, 1)))
        return self.coef + g


def fit_line(s: np.ndarray, y: np.ndarray, se: np.ndarray, link: Link) -> LineFit:
    """Weighted least squares of y = link(a + b·s) with each point's own standard error."""
    s, y, se = (np.asarray(v, float) for v in (s, y, se))
    z0 = link.z_guess(y)
    w0 = 1 / se**2
    A = np.stack([np.ones_like(s), s], 1)
    start = np.linalg.lstsq(A * np.sqrt(w0)[:, None], z0 * np.sqrt(w0), rcond=None)[0]

    def resid(p):
        return (link.value(p[0] + p[1] * s) - y) / se

    best = least_squares(resid, start, method="lm" if len(s) > 2 else "trf")
    J = best.jac
    dof = len(s) - 2
    chi2 = float(np.sum(best.fun**2))
    scale = max(1.0, chi2 / dof) if dof > 0 else 1.0
    try:
        cov = np.linalg.pinv(J.T @ J) * scale
    except np.linalg.LinAlgError:
        cov = np.full((2, 2), np.inf)
    return LineFit(link, best.x, cov, dof)


@dataclass
class Route:
    """A fitted signal: maps log10 x (per draw) to the forecast metric, oriented."""
    signal: str
    predict: object        # (t: array, params: (n, k) array) -> (n, len(t)) oriented values
    crossing: object       # (level: float, params) -> (n,) log10 x where the level is reached
    params: np.ndarray     # (1 + N_DRAWS, k): the fit first, then draws
    z: float = 0.0         # how decisively its signal improves, in standard errors (_z)
    forms: np.ndarray | None = None  # per draw, which assumed form drew it (None: one form)
    detail: dict | None = None       # what the forecast's JSON shows of the fit (a law's terms)

    def interval(self, draws: np.ndarray):
        """The LEVEL interval of per-draw values (along the first axis): with several forms, the
        union of each form's own interval (right if any of the forms is)."""
        if self.forms is None:
            return quantiles(draws)
        ends = [quantiles(draws[self.forms == k]) for k in np.unique(self.forms)]
        return (np.min([e[0] for e in ends], axis=0), np.max([e[1] for e in ends], axis=0))


def curve_arrays(c: Curve):
    y, se, b = oriented(c)
    return np.log10(c.x), y, se, b


def lower_level(y_train: np.ndarray, baseline: float | None) -> float:
    return baseline if baseline is not None else float(y_train[0])


def metric_link(c: Curve, lower: float) -> Link:
    best = best_oriented(c)
    if best is not None and best > lower:
        return Link("logit", lower, best)
    return Link("identity")


def line_route(signal: str, fit: LineFit, s: np.ndarray, y: np.ndarray, se: np.ndarray,
                rng) -> Route:
    params = np.vstack([fit.coef, fit.draws(rng)])
    link = fit.link

    def predict(t, p):
        return link.value(p[:, :1] + p[:, 1:2] * np.asarray(t)[None, :])

    def crossing(level, p):
        z = float(link.z_of(level))
        with np.errstate(divide="ignore", invalid="ignore"):
            tc = (z - p[:, 0]) / p[:, 1]
        return np.where(p[:, 1] > 0, tc, np.inf)

    return Route(signal, predict, crossing, params, _z(fit, +1, s, y, se))


def _slope_z(fit: LineFit, direction: int) -> float:
    v = fit.cov[1, 1]
    return float(direction * fit.coef[1] / (math.sqrt(v) if np.isfinite(v) and v > 0 else math.inf))


def _trend_z(s: np.ndarray, y: np.ndarray, se: np.ndarray) -> float:
    """The slope of a weighted straight line of y over s in its standard errors (widened when
    the points scatter beyond their noise): a trend test that assumes no curve's form."""
    if len(s) < 3 or np.ptp(s) == 0:
        return 0.0
    w = 1 / se**2
    A = np.stack([np.ones_like(s), s], 1)
    coef = np.linalg.lstsq(A * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)[0]
    chi2 = float(np.sum(((A @ coef - y) / se) ** 2))
    cov = np.linalg.inv(A.T @ (A * w[:, None])) * max(1.0, chi2 / (len(s) - 2))
    return float(coef[1] / math.sqrt(cov[1, 1]))


def _z(fit: LineFit, direction: int, s: np.ndarray, y: np.ndarray, se: np.ndarray) -> float:
    """How decisively a signal improves over its training points (s, y with standard errors se;
    y oriented so that higher is better): the larger of the fit's slope over its standard error
    and a form-free trend test (a form that misfits, such as a logistic to 1 on a curve that
    levels off lower, has a wide slope yet a clear trend), capped by the fit's own rise from the
    first to the last point over those points' noise — which guards against a degenerate fit (a
    curve that hugs a bound and turns sharply at one noisy point). 0 when the fit points the
    wrong way (direction +1: b > 0 improves)."""
    if not direction * fit.coef[1] > 0:
        return 0.0
    i, j = int(np.argmin(s)), int(np.argmax(s))
    ends = fit.link.value(fit.coef[0] + fit.coef[1] * np.array([s[i], s[j]]))
    rise = abs(ends[1] - ends[0]) / math.hypot(se[i], se[j])
    return float(min(max(_slope_z(fit, direction), _trend_z(s, y, se)), rise))


def token_route(tok: Curve, mask, lengths: np.ndarray, rng) -> Route | None:
    """Exact match as mean_i p^{L_i}, p from the per-token accuracy's trend in log x.

    The point forecast assumes Schaeffer et al.'s form: the above-chance share u of per-token
    accuracy has a per-token loss -ln u falling as a power law in x (loglog link). Points below a
    threshold cannot tell that form from a logistic trend (logit link), and the two forecast the
    threshold up to a decade apart, so the interval is the union of both forms' intervals: it
    carries the form's uncertainty, not only the fit's. (Akaike-weighting the point between the forms, or the
    logistic alone, forecast planted power-law curves worse: bench/forecast_backtests.py.)"""
    t, y, se, b = curve_arrays(tok)
    t, y, se = t[mask], y[mask], se[mask]
    chance = b if b is not None else 0.0
    if not 0 <= chance < 1:
        return None
    fits = [fit_line(t, y, se, Link(name, chance, 1.0)) for name in ("loglog", "logit")]
    ups = (-1, 1)  # loglog: z falls as the model improves
    half = N_DRAWS // 2
    params = np.vstack([np.r_[fits[0].coef, 0.0],
                        *(np.hstack([f.draws(rng, half), np.full((half, 1), float(i))])
                          for i, f in enumerate(fits))])
    L = np.asarray(lengths, float)

    def em_of_p(p):
        return np.mean(p[..., None] ** L, axis=-1)

    def predict(tt, p):
        z = p[:, :1] + p[:, 1:2] * np.asarray(tt)[None, :]
        ptok = np.empty_like(z)
        for i, f in enumerate(fits):
            rows = p[:, 2] == i
            ptok[rows] = f.link.value(z[rows])
        return em_of_p(ptok)

    def crossing(level, p):
        if not 0 < level < 1:
            return np.full(len(p), np.nan)
        # the per-token accuracy at which mean_i p^L_i reaches the level (monotone: bisection)
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if em_of_p(np.array(mid)) < level else (lo, mid)
        out = np.full(len(p), np.nan)
        for i, f in enumerate(fits):
            rows = p[:, 2] == i
            z = float(f.link.z_of(np.array((lo + hi) / 2)))
            if np.isfinite(z):
                with np.errstate(divide="ignore", invalid="ignore"):
                    tc = (z - p[rows, 0]) / p[rows, 1]
                out[rows] = np.where(ups[i] * p[rows, 1] > 0, tc, np.inf)
        return out

    return Route("token_accuracy^L", predict, crossing, params, _z(fits[0], -1, t, y, se),
                 forms=params[1:, 2])


def loss_route(c: Curve, loss: np.ndarray, mask, lower: float, rng) -> Route | None:
    """Two steps: log val_loss linear in log10 x; the metric's link linear in the loss."""
    t, y, se, _ = curve_arrays(c)
    ok = mask & np.isfinite(loss) & (loss > 0)
    if ok.sum() < 3:
        return None
    lt = np.log(loss[ok])
    A = np.stack([np.ones(ok.sum()), t[ok]], 1)
    c1 = np.linalg.lstsq(A, lt, rcond=None)[0]
    dof1 = int(ok.sum()) - 2
    s2 = float(np.sum((A @ c1 - lt) ** 2) / dof1) if dof1 > 0 else 0.0
    cov1 = np.linalg.inv(A.T @ A) * max(s2, 1e-12)
    step1 = LineFit(Link("identity"), c1, cov1, dof1)
    # the metric improves as the loss falls: fit on -loss so that b > 0 is improving
    step2 = fit_line(-loss[ok], y[ok], se[ok], metric_link(c, lower))
    p1 = np.vstack([step1.coef, step1.draws(rng)])
    p2 = np.vstack([step2.coef, step2.draws(rng)])
    params = np.hstack([p1, p2])
    link = step2.link

    def predict(tt, p):
        lo = np.exp(p[:, :1] + p[:, 1:2] * np.asarray(tt)[None, :])
        return link.value(p[:, 2:3] + p[:, 3:4] * (-lo))

    def crossing(level, p):
        z = float(link.z_of(level))
        with np.errstate(divide="ignore", invalid="ignore"):
            loss_c = -(z - p[:, 2]) / p[:, 3]
            tc = (np.log(loss_c) - p[:, 0]) / p[:, 1]
        good = (p[:, 3] > 0) & (p[:, 1] < 0) & (loss_c > 0)
        return np.where(good, tc, np.inf)

    return Route("val_loss", predict, crossing, params,
                 min(_z(step2, +1, -loss[ok], y[ok], se[ok]), _slope_z(step1, -1)))


def quantiles(v: np.ndarray):
    """The LEVEL interval of draws along the first axis (floats for 1-D draws)."""
    a = (1 - LEVEL) / 2
    lo, hi = np.quantile(v, [a, 1 - a], axis=0, method="nearest")  # draws may be +-inf
    return (float(lo), float(hi)) if np.ndim(lo) == 0 else (lo, hi)


def pass_route(pp: Curve, mask, rng) -> Route | None:
    """Exact match from the sampled pass probability (evaluate/pass_until.py, Hu et al. 2024):
    log10 of the mean pass probability as a straight line in log10 x, exact match read as that
    probability. A sampled answer passes less often than the greedy one, so its crossing is a
    late estimate of the greedy threshold."""
    t, y, se, _ = curve_arrays(pp)
    ok = mask & np.isfinite(y) & np.isfinite(se)
    if ok.sum() < 3:
        return None
    t, y, se = t[ok], y[ok], se[ok]
    fit = fit_line(t, y, se, Link("identity"))
    params = np.vstack([fit.coef, fit.draws(rng)])

    def predict(tt, p):
        with np.errstate(over="ignore"):
            return np.minimum(10.0 ** (p[:, :1] + p[:, 1:2] * np.asarray(tt)[None, :]), 1.0)

    def crossing(level, p):
        if not 0 < level <= 1:
            return np.full(len(p), np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            tc = (math.log10(level) - p[:, 0]) / p[:, 1]
        return np.where(p[:, 1] > 0, tc, np.inf)

    return Route("pass_prob", predict, crossing, params, _z(fit, +1, t, y, se))
