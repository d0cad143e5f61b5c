"""Thresholds of a training recipe, not of one run: several training seeds per size.

A *run* is one seed of one size; a *recipe* is the procedure across seeds. Where a size has two or
more seeds, a threshold is a claim about the recipe, so its interval must hold the seed-to-seed
variation as well as each evaluation's noise.

Model (a seed random effect in the likelihood of the crossing; cf. the Multi-Bootstrap of Sellam
et al. 2022, which resamples seeds and examples jointly, and PolyPythias, van der Wal et al. 2025,
which trains 10 seeds per size):

    seed s crosses the level at u_s = t0 + delta_s,   delta_s ~ N(0, tau^2),   t = log10 x

Each seed's own evidence about u_s is its crossing profile (analysis/verdicts/threshold.py: a bracket
between two members when its jump is sharp, narrower where points lie on its rise), read as a
likelihood l_s(u) = exp(-P_s(u) / 2). The population's likelihood of (t0, tau) is the product over
seeds of l_s convolved with the normal; tau is integrated out with a flat prior (maximising over
it instead collapses tau to 0 whenever a few seeds share a bracket, and the interval with it:
compare then called 11% of same-recipe pairs significant). With tau integrated out, -2 log L of a
normal mean from k exact crossings is (k - 1) log(1 + T^2 / (k - 1)), T Student's t on k - 1
degrees of freedom, so that is the cut (and for a difference of two recipes, pooled as a
two-sample t-test pools, (n - 1) log(1 + T^2 / (n - 2)) over all n seeds); it tends to chi2_1 as
seeds grow. For a difference, n counts seeds by what each shows of the spread (effective_seeds):
a crossing known only to a bracket tells little about how far seeds scatter. Deviances are
rescaled to the chi2_1 scale, so the interval code reads them all alike.

Also per curve: each seed's own threshold and interval; the seed spread (sample SD of the seed
thresholds, decades); per size, the *emergence probability* — the share of seeds past the level,
with a Wilson interval: the chance that one training run of that size has the ability.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.special import logsumexp
from scipy.stats import norm
from scipy.stats import t as student_t

from .threshold import (LogisticFit, best_level, chi2_cut, common_grid, crossing,
                        crossing_interval, crossing_profile, fit_logistic, halfway_levels,
                        profile_interval)

N_TAU = 24


@dataclass
class SeedCurve:
    """One seed's points of a curve (already oriented so that higher is better)."""

    seed: int
    t: np.ndarray    # log10 x
    y: np.ndarray
    se: np.ndarray
    fit: LogisticFit | None = None

    def fitted(self) -> LogisticFit:
        if self.fit is None:
            self.fit = fit_logistic(self.t, self.y, self.se)
        return self.fit

    def top(self) -> float:
        """The plateau of the seed's best logistic, capped at its highest point."""
        fit = self.fitted()
        return min(best_level(fit, fit.lo + fit.amp), float(self.y.max()))


def small_sample_cut(n: float, conf: float, groups: int = 1) -> float:
    """The cut of a likelihood with the seed spread integrated out (flat prior on tau), for
    `groups` means from n seeds in all. For exact crossings it is exactly calibrated: with
    sigma integrated out, -2 log L of a normal mean (or of a difference of two, pooled) is
    (n - 1) log(1 + T^2 / (n - groups)), T Student's t on n - groups degrees of freedom.
    chi2_1's cut when nothing is left to estimate the spread from. n may be an effective count
    (effective_seeds)."""
    dof = n - groups
    if dof < 1:
        return chi2_cut(conf)
    q = float(student_t.ppf(0.5 + conf / 2, dof))
    return (n - 1) * math.log1p(q * q / dof)


def effective_seeds(groups: list[np.ndarray], grid: np.ndarray) -> float:
    """How many seeds' worth of evidence about the seed spread `groups` of crossing profiles
    (each (k, len(grid) + 2)) hold: each seed counts by the share of its scatter that is
    seed-to-seed spread, tau^2 / (tau^2 + s_i^2), s_i^2 the variance of its own crossing
    likelihood, tau^2 the method-of-moments spread (pooled within-group variance of the seeds'
    likelihood means minus their mean s_i^2, as random-effects meta-analysis estimates it).
    Exact crossings count fully; a seed located only to a bracket as wide as the spread counts
    little, because it cannot show how far seeds scatter. Seeds whose best crossing lies off the
    grid carry no location and count nothing. Between groups + 1 (the spread unmeasured: the
    cut of one degree of freedom) and the number of seeds.

    Why: the small-sample cut with every seed counted fully assumes exact crossings; on coarse
    ladders a few sharply located seeds beside bracketed ones then looked like a tight recipe,
    and planted recipes without an effect were called shifted in ~8% of draws at 95%."""
    means, variances, labels = [], [], []
    for g, profiles in enumerate(groups):
        inner = profiles[:, 1:-1]
        for row, full in zip(inner, profiles):
            if not np.isfinite(row).any() or row.min() > full.min():
                continue  # its best crossing is before or beyond the grid
            like = np.exp(-(row - row.min()) / 2)
            like /= like.sum()
            m = float(like @ grid)
            means.append(m)
            variances.append(max(float(like @ (grid - m) ** 2), 0.0))
            labels.append(g)
    n_all = sum(len(p) for p in groups)
    floor = min(len(groups) + 1, n_all)
    means, variances, labels = np.array(means), np.array(variances), np.array(labels)
    used = sorted(set(labels.tolist()))
    dof = len(means) - len(used)
    if dof < 1:
        return float(floor)
    within = sum(((means[labels == g] - means[labels == g].mean()) ** 2).sum() for g in used)
    tau2 = within / dof - variances.mean()
    if tau2 <= 0:
        return float(floor)
    return float(min(n_all, max(floor, (tau2 / (tau2 + variances)).sum())))


def tau_grid(grid: np.ndarray, tau_max: float) -> tuple[np.ndarray, np.ndarray]:
    """Seed spreads (decades) from one grid cell to the ladder's span, and their weights in an
    integral over tau with a flat prior (trapezoid rule)."""
    h = float(grid[1] - grid[0])
    taus = np.geomspace(h, max(tau_max, 2 * h), N_TAU)
    edges = np.concatenate([[taus[0]], (taus[1:] + taus[:-1]) / 2, [taus[-1]]])
    return taus, np.diff(edges)


def seed_deviance(profiles: np.ndarray, grid: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """-2 log-likelihood of the population threshold t0 (on grid, plus the two end cells as
    crossing_profile lays them out) for each seed spread in taus: (len(taus), len(grid) + 2).

    profiles: (k, len(grid) + 2), each seed's crossing profile of one common level, read as a
    likelihood and convolved with N(0, tau^2) (the seed's draw around t0)."""
    h = float(grid[1] - grid[0])
    like = np.exp(-(profiles - profiles.min(axis=1, keepdims=True)) / 2)
    inner, before, beyond = like[:, 1:-1], like[:, 0], like[:, -1]
    with np.errstate(divide="ignore"):
        ends = [-2 * np.log(np.maximum(before, 1e-300)).sum(),
                -2 * np.log(np.maximum(beyond, 1e-300)).sum()]
    out = np.empty((len(taus), len(grid) + 2))
    for i, tau in enumerate(taus):
        if tau == 0:  # a given spread of 0 (compare --seed-spread 0): the seeds' own profiles
            m = inner
        else:
            # a seed's crossing anywhere on the grid, weighted by the normal around t0; the end
            # cells stand for everything before / beyond the grid
            m = (gaussian_filter1d(inner, tau / h, axis=1, mode="constant", truncate=6.0)
                 + before[:, None] * norm.cdf((grid[0] - grid) / tau)[None, :]
                 + beyond[:, None] * norm.sf((grid[-1] - grid) / tau)[None, :])
        out[i, 1:-1] = -2 * np.log(np.maximum(m, 1e-300)).sum(axis=0)
        out[i, 0], out[i, -1] = ends
    return out


def population_profile(profiles: np.ndarray, grid: np.ndarray, conf: float,
                       tau_max: float) -> np.ndarray:
    """The population threshold's deviance on grid + end cells, the seed spread integrated
    out, rescaled from the small-sample cut of k seeds to chi2_1's (so a chi2_1 cut reads it)."""
    taus, w = tau_grid(grid, tau_max)
    dev = -2 * logsumexp(-seed_deviance(profiles, grid, taus) / 2 + np.log(w)[:, None], axis=0)
    return (dev - dev.min()) * chi2_cut(conf) / small_sample_cut(len(profiles), conf)


def shift_deviance(profiles_a: np.ndarray, profiles_b: np.ndarray, grid: np.ndarray,
                   conf: float, tau: float | None) -> np.ndarray:
    """Joint deviance of (A's population threshold, B's) on grid + end cells, both sides' seeds
    sharing one seed spread: integrated out (pooled, as a two-sample t-test pools variances;
    its small-sample cut over the effective number of seeds rescaled to chi2_1's), or `tau`
    when given."""
    if tau is not None:
        da, db = (seed_deviance(p, grid, np.array([tau]))[0] for p in (profiles_a, profiles_b))
        total = da[:, None] + db[None, :]
        return total - total.min()
    taus, w = tau_grid(grid, float(grid[-1] - grid[0]))
    da, db = seed_deviance(profiles_a, grid, taus), seed_deviance(profiles_b, grid, taus)
    # sum over tau of w L_A(a) L_B(b) is one matrix product; each tau's likelihoods are scaled
    # by their largest value first (no underflow where it matters)
    ma, mb = da.min(axis=1), db.min(axis=1)
    c = np.log(w) - (ma + mb) / 2
    la, lb = np.exp(-(da - ma[:, None]) / 2), np.exp(-(db - mb[:, None]) / 2)
    with np.errstate(divide="ignore"):
        total = -2 * (np.log((la * np.exp(c - c.max())[:, None]).T @ lb) + c.max())
    total -= total.min()
    n_eff = effective_seeds([profiles_a, profiles_b], grid)
    return total * chi2_cut(conf) / max(chi2_cut(conf), small_sample_cut(n_eff, conf, 2))


def wilson(successes: int, n: int, conf: float) -> tuple[float, float]:
    """Wilson's score interval of a proportion (Wilson 1927)."""
    if n == 0:
        return 0.0, 1.0
    z = float(norm.ppf(0.5 + conf / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # exact ends where the count is 0 or n (the formula leaves rounding there)
    return (0.0 if successes == 0 else max(0.0, centre - half),
            1.0 if successes == n else min(1.0, centre + half))


def seed_threshold(s: SeedCurve, lower: float, conf: float) -> dict:
    """One seed's own threshold (halfway from `lower` to its top) with its interval, in log10 x
    (None where it never gets there), and the 10-90% width of its best logistic."""
    fit = s.fitted()
    if not np.any(fit.rising):
        return {"seed": s.seed, "t": None, "ci": [None, None], "width": None}
    levels = halfway_levels(fit, lower, float(s.y.max()))
    level = best_level(fit, levels)
    est = float(crossing(s.t, s.y[None], np.array([level]))[0])
    ci = crossing_interval(fit, levels, conf, est if np.isfinite(est) else None)
    return {"seed": s.seed, "t": est if np.isfinite(est) else None,
            "ci": [ci.low if math.isfinite(ci.low) else None,
                   ci.high if math.isfinite(ci.high) else None],
            "width": fit.width_decades if math.isfinite(fit.width_decades) else None}


def population_threshold(seeds: list[SeedCurve], level: float, conf: float,
                         estimate: float | None) -> dict:
    """Interval of the population threshold (log10 x) at one common level."""
    ts = [s.t for s in seeds]
    grid = common_grid(*ts)
    span = float(max(t.max() for t in ts) - min(t.min() for t in ts))
    profiles = np.stack([crossing_profile(s.fitted(), level, grid) for s in seeds])
    prof = population_profile(profiles, grid, conf, tau_max=span)
    low, high = profile_interval(prof, grid, conf, estimate)
    return {"low": low, "high": high, "grid": grid, "profile": prof}
