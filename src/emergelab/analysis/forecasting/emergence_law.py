"""The emergence law of fine-tuning probes: where an ability will emerge in the run's own
setting, read from small members fine-tuned on k examples of the task.

Snell et al. 2024 ("Predicting emergent capabilities by finetuning") found that fine-tuning on
a task moves its emergence point to smaller models, the further the more examples, and that a
law for that shift, fitted on small models, extrapolates back to the setting without
fine-tuning. Our form of the law (the same idea on the size axis, with k = 0 reached smoothly):

    y(s, k) = c + (b - c) · σ((s - μ(k)) / w),     μ(k) = μ0 - β · log10(1 + k / k0)

s = log10 x of the member, k its fine-tuning examples (k = 0: the run's own points, the
pretraining setting), c the metric's lower level, b its best value. μ0 is the run's own
emergence point, so the forecast's threshold is 10^μ0; β (≥ 0) is how many decades the point
moves per decade of k once k ≫ k0; w is the rise's width in decades.

Fit: binomial maximum likelihood over the probes' and the run's points below the cutoff (each a
proportion of n examples), L-BFGS-B within bounds, from several starts. Interval: a bootstrap
over members (a resampled member brings all its k), so the member-to-member scatter of
fine-tuning small models (optimisation luck: one member learns the task at k = 512, a larger one
does not at 4096) widens it rather than hiding in a binomial error. The probes move when some
probe lies above the lower level beyond binomial chance (a one-sided tail probability below
that of Z_MOVE standard errors, Bonferroni-corrected over the probes); only then is a law used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, logit
from scipy.stats import binom, norm

from .routes import Route

N_BOOT = 200          # bootstrap refits behind the interval
WIDTH_BOUNDS = (0.02, 2.0)   # decades
BETA_MAX = 4.0


@dataclass
class ProbePoints:
    """One curve's points for the law: per point its log10 x, k (0: the run's own), value (a
    proportion), examples n and member (the bootstrap's unit)."""

    s: np.ndarray
    k: np.ndarray
    y: np.ndarray
    n: np.ndarray
    member: np.ndarray

    @property
    def grid(self) -> list[int]:
        return sorted(int(v) for v in np.unique(self.k) if v > 0)


@dataclass
class Law:
    mu0: float
    beta: float
    k0: float
    width: float

    def mu(self, k) -> np.ndarray:
        return self.mu0 - self.beta * np.log10(1 + np.asarray(k, float) / self.k0)

    def to_json(self) -> dict:
        return {"form": "y = c + (b - c) * sigmoid((log10 x - mu(k)) / w), "
                        "mu(k) = mu0 - beta * log10(1 + k / k0)",
                "mu0": self.mu0, "beta": self.beta, "k0": self.k0, "w": self.width}


def _value(theta, s, k, lower, best):
    mu0, beta, log_k0, w = theta
    mu = mu0 - beta * np.log10(1 + k / 10**log_k0)
    return lower + (best - lower) * expit((s - mu) / w)


def _nll(theta, pts: ProbePoints, lower, best):
    """Binomial negative log-likelihood of the law and its gradient in θ = (μ0, β, log10 k0,
    w): each point's successes y·n against the law's proportion P = c + (b - c)·σ(z),
    z = (s - μ(k)) / w."""
    mu0, beta, log_k0, w = theta
    r = pts.k / 10**log_k0
    z = (pts.s - (mu0 - beta * np.log10(1 + r))) / w
    sig = expit(z)
    P = np.clip(lower + (best - lower) * sig, 1e-12, 1 - 1e-12)
    y = np.clip(pts.y, 0, 1)
    f = -float(np.sum(pts.n * (y * np.log(P) + (1 - y) * np.log1p(-P))))
    g = -pts.n * (y - P) / (P * (1 - P)) * (best - lower) * sig * (1 - sig)  # d f / d z
    grad = np.array([np.sum(g * -1 / w), np.sum(g * np.log10(1 + r) / w),
                     np.sum(g * -beta * r / (1 + r) / w), np.sum(g * -z / w)])
    return f, grad


def _bounds(pts: ProbePoints) -> list[tuple[float, float]]:
    # μ0 may go past the forecast's horizon (3 decades beyond the points): a law that puts it
    # there is an open threshold, not one pinned at a bound
    s_lo, s_hi = float(pts.s.min()), float(pts.s.max())
    ks = np.log10(pts.grid or [1])
    return [(s_lo - 1, s_hi + 4), (0.0, BETA_MAX), (ks.min() - 1, ks.max() + 1), WIDTH_BOUNDS]


def dispersion(law: Law, pts: ProbePoints, lower: float, best: float) -> float:
    """Pearson chi-square of the law per degree of freedom: ~1 when the points scatter as their
    binomial noise; far above when members differ beyond it (the interval's bootstrap over
    members carries that)."""
    theta = (law.mu0, law.beta, math.log10(law.k0), law.width)
    P = np.clip(_value(theta, pts.s, pts.k, lower, best), 1e-6, 1 - 1e-6)
    return float(np.sum(pts.n * (pts.y - P) ** 2 / (P * (1 - P))) / max(1, len(pts.s) - 4))


def fit_law(pts: ProbePoints, lower: float, best: float, start: np.ndarray | None = None) -> Law:
    """The maximum-likelihood law (bounds: μ0 within 1 decade below and 4 above the points, β in
    [0, BETA_MAX], k0 within a decade of the grid, w in WIDTH_BOUNDS), from several starts or,
    for a bootstrap refit, from the full fit's estimate."""
    bounds = _bounds(pts)
    s_hi = float(pts.s.max())
    ks = np.log10(pts.grid or [1])
    starts = [start] if start is not None else [
        np.array([mu0, 1.0, log_k0, 0.2]) for mu0 in (s_hi + 0.3, s_hi + 1.5)
        for log_k0 in (ks.min(), ks.max())]
    best_fit = None
    for x0 in starts:
        x0 = np.clip(x0, [b[0] for b in bounds], [b[1] for b in bounds])
        r = minimize(_nll, x0, args=(pts, lower, best), jac=True, method="L-BFGS-B",
                     bounds=bounds)
        if best_fit is None or r.fun < best_fit.fun:
            best_fit = r
    mu0, beta, log_k0, w = best_fit.x
    return Law(float(mu0), float(beta), float(10**log_k0), float(w))


def probes_move(pts: ProbePoints, lower: float) -> float:
    """How decisively some probe lies above the lower level, as a one-sided z: the smallest
    binomial tail probability of a probe's successes at the lower level, Bonferroni-corrected
    for the number of probes (one lucky point among many is no signal)."""
    on = pts.k > 0
    if not on.any():
        return 0.0
    n = np.round(pts.n[on]).astype(int)
    hits = np.round(pts.y[on] * n).astype(int)
    c = min(max(lower, 1e-9), 1 - 1e-9)
    p = binom.sf(hits - 1, n, c)  # P(at least this many successes by chance)
    return float(norm.isf(min(1.0, float(p.min()) * on.sum())))


def law_route(pts: ProbePoints, lower: float, best: float, seed: int = 0) -> tuple[Route, Law]:
    """The law as a forecast route over the run's own setting (k = 0): params per row (μ0, w),
    the fit first, then N_BOOT member-bootstrap refits."""
    law = fit_law(pts, lower, best)
    theta = np.array([law.mu0, law.beta, math.log10(law.k0), law.width])
    rng = np.random.default_rng(seed)
    members = np.unique(pts.member)
    rows = [(law.mu0, law.width)]
    for _ in range(N_BOOT):
        # members resampled (their scatter), and each point's count redrawn (its evaluation)
        pick = rng.choice(members, size=len(members), replace=True)
        idx = np.concatenate([np.flatnonzero(pts.member == m) for m in pick])
        n = pts.n[idx]
        y = rng.binomial(n.astype(int), np.clip(pts.y[idx], 0, 1)) / n
        sub = ProbePoints(pts.s[idx], pts.k[idx], y, n, pts.member[idx])
        if not (sub.k > 0).any():
            continue
        b = fit_law(sub, lower, best, start=theta)
        rows.append((b.mu0, b.width))
    params = np.array(rows)

    def predict(t, P):
        t = np.asarray(t, float)
        return lower + (best - lower) * expit((t[None, :] - P[:, :1]) / P[:, 1:2])

    def crossing(level, P):
        u = (level - lower) / (best - lower)
        if not 0 < u < 1:
            return np.full(len(P), np.nan)
        return P[:, 0] + P[:, 1] * float(logit(u))

    z = probes_move(pts, lower)
    return Route("finetune", predict, crossing, params, z=z), law


def _sig(v: float) -> float:
    return float(f"{v:.4g}")


def law_curves(law: Law, pts: ProbePoints, lower: float, best: float) -> dict:
    """The fitted law beside the observations, per k (for the JSON and the plot)."""
    out = {}
    for k in [0] + pts.grid:
        on = pts.k == k
        s = np.linspace(float(pts.s.min()), float(pts.s.max()) + 1, 40)
        fitted = _value((law.mu0, law.beta, math.log10(law.k0), law.width), s,
                        np.full_like(s, k), lower, best)
        out[str(k)] = {"x": [_sig(10**v) for v in pts.s[on]], "observed": pts.y[on].tolist(),
                       "threshold": float(10 ** law.mu(k)),
                       "fit_x": [_sig(10**v) for v in s], "fit": [_sig(v) for v in fitted]}
    return out
