"""Where a curve crosses a level, with an interval that means what it says.

Method: profile likelihood (Wilks 1938; Venzon & Moolgavkar 1988) under a logistic in log10 scale,

    y(t) = lo + amp * sigmoid((t - t0) / w),   t = log10 x,  amp >= 0,  w > 0 free,

with each point's own Gaussian noise (its standard error). For every cell of a dense grid of
(t0, w) the model is linear in (lo, amp), which are solved exactly by weighted least squares; the
crossing of the level L in that cell is tc = t0 + w * logit((L - lo) / amp) (beyond the largest
model when the cell's curve never reaches L). The profile chi-square of a crossing location is
the best chi-square of the cells that cross there; the interval at confidence c is every location
whose profile lies within chi2_1(c) of the best (3.84 at 95%).

Why this and not a bootstrap of the interpolated crossing: a sharp rise between two ladder members
fits equally well wherever between them it happens (w -> 0 makes the logistic a step), so the
profile is flat across that bracket and the interval is the bracket itself; a bootstrap of the
interpolated crossing instead reports the sampling noise of where a straight line between the two
points crosses L, which is a small fraction of the bracket and covered the truth in ~30% of
planted jumps. Where points lie on the rise they pin the logistic down and the interval is
narrower than the bracket. The level itself moves with each cell's top (halfway from the lower level to that
cell's plateau), so the top's uncertainty is in the interval too. The grid's resolution (1/800 of
the range) adds no visible error (coarser grids under-covered on 0.2-decade ladders). Where the
best logistic fits worse than the points' noise allows (reduced chi-square above 1: extra
scatter, or a curve that is no logistic), the profile is divided by that ratio (quasi-likelihood),
which widens the interval rather than trusting a wrong model.

Also here: the 10-90% width of the best logistic (2 ln 9 * w decades) and its chi-square, which
the classifier compares with a log-linear trend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2

N_T0, N_W = 801, 48
WIDTH_PER_W = 2 * math.log(9)  # 10-90% width of sigmoid(z / w) is 2 ln 9 * w


@dataclass
class LogisticFit:
    """A weighted least-squares logistic fit of a curve on a dense (t0, w) grid."""

    t: np.ndarray       # log10 x of the points
    t0: np.ndarray      # (T,) grid of midpoints
    w: np.ndarray       # (W,) grid of scales (decades)
    lo: np.ndarray      # (T, W) best lower level per cell
    amp: np.ndarray     # (T, W) best amplitude per cell (>= 0 where the cell is usable)
    chi: np.ndarray     # (T, W) chi-square per cell (the constant's where no rise fits)
    rising: np.ndarray  # (T, W) the cell's best amplitude is positive

    @property
    def chi_min(self) -> float:
        return float(self.chi.min())

    @property
    def width_decades(self) -> float:
        """10-90% width of the best-fitting logistic."""
        i, j = np.unravel_index(np.argmin(self.chi), self.chi.shape)
        return float(WIDTH_PER_W * self.w[j]) if self.rising[i, j] else math.inf

    @property
    def dispersion(self) -> float:
        """Reduced chi-square of the best fit when it exceeds 1 (the points scatter more than
        their noise says, or the curve is no logistic), else 1. Profiles are divided by it, as
        quasi-likelihood does (McCullagh & Nelder 1989), so a poor fit widens the interval
        instead of leaving it as narrow as a good fit's."""
        dof = len(self.t) - 4
        return max(1.0, self.chi_min / dof) if dof > 0 else 1.0


def fit_logistic(t: np.ndarray, y: np.ndarray, se: np.ndarray) -> LogisticFit:
    t, y, se = (np.asarray(a, float) for a in (t, y, se))
    span = float(t.max() - t.min())
    pad = span / max(1, len(t) - 1) / 2  # half a typical spacing beyond each end
    t0 = np.linspace(t.min() - pad, t.max() + pad, N_T0)
    w = span * np.logspace(-3.5, 0.3, N_W)
    s = 0.5 * (1 + np.tanh((t[None, None, :] - t0[:, None, None]) / w[None, :, None] / 2))
    iv = 1 / se**2
    S0, S1, S2 = iv.sum(), (iv * s).sum(-1), (iv * s * s).sum(-1)
    Y0, Y1 = (iv * y).sum(), (iv * s * y).sum(-1)
    det = S0 * S2 - S1 * S1
    ok = det > 1e-12 * S0 * np.maximum(S2, 1e-300)
    det = np.where(ok, det, 1.0)
    lo = (S2 * Y0 - S1 * Y1) / det
    amp = (S0 * Y1 - S1 * Y0) / det
    chi = (((lo[..., None] + amp[..., None] * s - y) / se) ** 2).sum(-1)
    rising = ok & (amp > 0)
    # where the best amplitude is not positive, the best rising curve is the constant
    chi_const = float((((y - Y0 / S0) / se) ** 2).sum())
    return LogisticFit(t, t0, w, lo, amp, np.where(rising, chi, chi_const), rising)


def halfway_levels(fit: LogisticFit, lower: float, top_cap: float) -> np.ndarray:
    """Each cell's threshold level: halfway from `lower` to that cell's top (lo + amp), the top
    capped at `top_cap` (the highest observed value) so that a curve still rising at its largest
    model is not given a plateau it never showed. Letting the level move with each cell's top is
    what puts the top's own uncertainty into the interval."""
    return (lower + np.minimum(fit.lo + fit.amp, top_cap)) / 2


def best_level(fit: LogisticFit, levels: np.ndarray | float) -> float:
    """The level of the best-fitting cell."""
    if np.ndim(levels) == 0:
        return float(levels)
    return float(np.asarray(levels).ravel()[int(np.argmin(fit.chi))])


def crossing_profile(fit: LogisticFit, level: np.ndarray | float, grid: np.ndarray) -> np.ndarray:
    """Profile chi-square of where the curve first reaches `level` (one value, or one per cell),
    on `grid` (log10 x, evenly spaced) plus two end cells: [0] crossed before the grid, [-1]
    beyond it (never reached within the grid). Cells of the fit that cross nowhere on the grid
    land in the end cells."""
    with np.errstate(divide="ignore", invalid="ignore"):
        q = (level - fit.lo) / np.where(fit.rising, fit.amp, 1.0)
        tc = fit.t0[:, None] + fit.w[None, :] * np.log(q / (1 - q))
    tc = np.where(q >= 1, np.inf, np.where(q <= 0, -np.inf, tc))
    tc = np.where(fit.rising, tc, np.inf)  # a constant below the level never gets there
    h = grid[1] - grid[0]
    idx = np.clip(np.floor((tc - grid[0]) / h + 0.5), -1, len(grid)).astype(int) + 1
    idx = np.where(np.isnan(tc), len(grid) + 1, idx)
    prof = np.full(len(grid) + 2, np.inf)
    np.minimum.at(prof, idx.ravel(), fit.chi.ravel())
    return prof / fit.dispersion


def common_grid(*ts: np.ndarray, points: int = N_T0) -> np.ndarray:
    """An evenly spaced grid of log10 x covering every given ladder, half a spacing beyond."""
    lo = min(float(t.min()) for t in ts)
    hi = max(float(t.max()) for t in ts)
    pad = max((float(t.max() - t.min()) / max(1, len(t) - 1) / 2) for t in ts)
    return np.linspace(lo - pad, hi + pad, points)


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


def chi2_cut(level: float) -> float:
    """The profile chi-square rise that bounds a `level` interval of one parameter."""
    return float(chi2.ppf(level, 1))


@dataclass
class CrossingInterval:
    low: float          # log10 x; -inf when crossed before the smallest model
    high: float         # log10 x; +inf when it may lie beyond the largest model
    kind: str           # "bracket": exactly the gap between two neighbouring members; "profile"


def crossing_interval(fit: LogisticFit, level: np.ndarray | float, conf: float,
                      estimate: float | None = None) -> CrossingInterval:
    """The conf interval of where the curve reaches `level` (one value, or one per cell; always
    containing `estimate`, the interpolated crossing, when given)."""
    grid = np.linspace(fit.t0[0], fit.t0[-1], len(fit.t0))
    low, high = profile_interval(crossing_profile(fit, level, grid), grid, conf, estimate)
    return CrossingInterval(low, high, _kind(fit.t, low, high, grid[1] - grid[0]))


def profile_interval(prof: np.ndarray, grid: np.ndarray, conf: float,
                     estimate: float | None = None) -> tuple[float, float]:
    """The conf interval (log10 x; ends may be infinite) of a profile chi-square laid out on grid
    plus its two end cells (crossing_profile's layout), always holding `estimate` when given."""
    inside = np.nonzero(prof <= prof.min() + chi2_cut(conf))[0]
    h = grid[1] - grid[0]
    # a grid cell stands for locations up to half a cell either side of it; the end cells for
    # everything before / beyond the grid
    edges_low = np.concatenate([[-np.inf], grid - h / 2, [grid[-1] + h / 2]])
    edges_high = np.concatenate([[grid[0] - h / 2], grid + h / 2, [np.inf]])
    low, high = float(edges_low[inside[0]]), float(edges_high[inside[-1]])
    if estimate is not None and math.isfinite(estimate):
        low, high = min(low, estimate), max(high, estimate)
    return low, high


def _kind(t: np.ndarray, low: float, high: float, h: float) -> str:
    """'bracket' when the interval is the gap between two neighbouring members (nothing on the
    rise located it more finely), else 'profile'."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "profile"
    ts = np.sort(t)
    j = int(np.searchsorted(ts, (low + high) / 2))
    if j == 0 or j == len(ts):
        return "profile"
    a, b = ts[j - 1], ts[j]
    inside_gap = low >= a - 2 * h and high <= b + 2 * h
    return "bracket" if inside_gap and (high - low) >= 0.9 * (b - a) else "profile"
