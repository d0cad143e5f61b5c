"""Forecasting a curve beyond the models it was fitted on: values with intervals, and the
threshold (where the forecast crosses halfway from the lower level to the metric's best value).

Every forecast is a line in a transformed space, z = a + b·s, fitted by weighted least squares in
the metric's own space (each point with its own noise, so points sitting at chance constrain the
fit without being transformed into infinities). s is log10 x, or the validation loss for the
second step of the loss route. Uncertainty: the Laplace approximation of (a, b) (covariance from
the Jacobian, scaled up by the reduced chi-square when the points scatter more than their noise),
drawn from a Student-t with n - 2 degrees of freedom; values and crossings are computed per draw.

The signals a forecast can use (`SIGNALS`, a registry: `register_signal` adds one; `auto` tries
them in this order):

- "token_accuracy^L" (Schaeffer et al. 2023): for exact match of generated answers, the
  per-token accuracy p of the same outputs, whose above-chance share u = (p - c) / (1 - c) falls
  off as a power law in its log (-ln u = A·x^-α, i.e. ln(-ln u) linear in log x: per-token loss as
  a power law), and exact match as the mean over examples of p^L (L: each example's answer length
  in the scorer's tokens). It sees an ability coming while exact match is still at chance.
- "val_loss" (Owen 2024; Bhagia et al. 2024; Du et al. 2024): two steps — the validation loss as a
  power law in x, and the metric as a logistic in the loss. Needs the metric itself to move.
- "metric": the metric itself, as a logistic in log x between its lower level and its best value
  (a bounded metric), or as a straight line in log x (an unbounded one).

A signal is used only when it moves: its fitted slope points the improving way by at least
Z_MOVE standard errors (of the fit itself, widened when the points scatter beyond their noise).
When none moves, the forecast says "no signal yet" and gives no threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares
from scipy.special import expit

from ...errors import UserError
from ...evaluate.registry import lookup
from ..verdicts.emergence import Curve, best_oriented, oriented, undo

LEVEL = 0.90        # level of every forecast interval
N_DRAWS = 4000      # parameter draws behind the intervals
Z_MOVE = 3.0        # a signal moves when it improves by this many standard errors
TOKEN_PARTNER = {"exact_match": "token_accuracy"}  # a discrete metric -> its per-token partner
NO_SIGNAL = "no signal yet"
HORIZON = 3.0       # decades past the largest training point: a crossing beyond is "open"


# ---------------------------------------------------------------------------------------------
# links: the metric's value <-> the line's z
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# one line, fitted in the metric's space
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# forecasts
# ---------------------------------------------------------------------------------------------

@dataclass
class Point:
    x: float
    predicted: float | None
    interval: list | None       # [low, high] at LEVEL
    observed: float | None = None
    held_out: bool = True


@dataclass
class Forecast:
    """One curve's forecast. Values are in the metric's own units; thresholds in x's."""

    keys: dict
    metric: str
    x: str
    signal: str | None              # which of SIGNALS, or None ("no signal yet")
    status: str                     # "forecast", NO_SIGNAL or "insufficient"
    train_below: float | None
    n_train: int
    threshold: float | None = None
    threshold_ci: list | None = None     # None ends: open (beyond the forecast's range)
    level: float | None = None           # the threshold level, in the metric's units
    points: list[Point] = field(default_factory=list)
    note: str = ""
    # for plots: a dense grid of x with the forecast and its band
    grid: dict = field(default_factory=dict, repr=False)
    train: dict = field(default_factory=dict, repr=False)

    def to_json(self) -> dict:
        return {**{k: v for k, v in self.keys.items()}, "metric": self.metric, "x": self.x,
                "signal": self.signal, "status": self.status, "train_below": self.train_below,
                "n_train": self.n_train, "threshold": self.threshold,
                "threshold_ci": self.threshold_ci, "threshold_level": self.level,
                "interval_level": LEVEL, "note": self.note,
                "points": [{"x": p.x, "predicted": p.predicted, "interval": p.interval,
                            "observed": p.observed, "held_out": p.held_out} for p in self.points]}


@dataclass
class Route:
    """A fitted signal: maps log10 x (per draw) to the forecast metric, oriented."""
    signal: str
    predict: object        # (t: array, params: (n, k) array) -> (n, len(t)) oriented values
    crossing: object       # (level: float, params) -> (n,) log10 x where the level is reached
    params: np.ndarray     # (1 + N_DRAWS, k): the fit first, then draws
    z: float = 0.0         # how decisively its signal improves, in standard errors (_z)
    forms: np.ndarray | None = None  # per draw, which assumed form drew it (None: one form)

    def interval(self, draws: np.ndarray):
        """The LEVEL interval of per-draw values (along the first axis): with several forms, the
        union of each form's own interval (right if any of the forms is)."""
        if self.forms is None:
            return _quantiles(draws)
        ends = [_quantiles(draws[self.forms == k]) for k in np.unique(self.forms)]
        return (np.min([e[0] for e in ends], axis=0), np.max([e[1] for e in ends], axis=0))


def _curve_arrays(c: Curve):
    y, se, b = oriented(c)
    return np.log10(c.x), y, se, b


def _lower(y_train: np.ndarray, baseline: float | None) -> float:
    return baseline if baseline is not None else float(y_train[0])


def _metric_link(c: Curve, lower: float) -> Link:
    best = best_oriented(c)
    if best is not None and best > lower:
        return Link("logit", lower, best)
    return Link("identity")


def _line_route(signal: str, fit: LineFit, s: np.ndarray, y: np.ndarray, se: np.ndarray,
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


def _token_route(tok: Curve, mask, lengths: np.ndarray, rng) -> Route | None:
    """Exact match as mean_i p^{L_i}, p from the per-token accuracy's trend in log x.

    The point forecast assumes Schaeffer et al.'s form: the above-chance share u of per-token
    accuracy has a per-token loss -ln u falling as a power law in x (loglog link). Points below a
    threshold cannot tell that form from a logistic trend (logit link), and the two forecast the
    threshold up to a decade apart, so the interval is the union of both forms' intervals: it
    carries the form's uncertainty, not only the fit's. (Akaike-weighting the point between the forms, or the
    logistic alone, forecast planted power-law curves worse: bench/forecast_backtests.py.)"""
    t, y, se, b = _curve_arrays(tok)
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


def _loss_route(c: Curve, loss: np.ndarray, mask, lower: float, rng) -> Route | None:
    """Two steps: log val_loss linear in log10 x; the metric's link linear in the loss."""
    t, y, se, _ = _curve_arrays(c)
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
    step2 = fit_line(-loss[ok], y[ok], se[ok], _metric_link(c, lower))
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


def _quantiles(v: np.ndarray):
    """The LEVEL interval of draws along the first axis (floats for 1-D draws)."""
    a = (1 - LEVEL) / 2
    lo, hi = np.quantile(v, [a, 1 - a], axis=0, method="nearest")  # draws may be +-inf
    return (float(lo), float(hi)) if np.ndim(lo) == 0 else (lo, hi)


@dataclass
class SignalInput:
    """What a signal may read: the curve, its training mask and oriented arrays, its lower level,
    the other metrics of the same outputs, answer lengths, validation losses, the cutoff, and
    the forecast's random generator."""

    c: Curve
    mask: np.ndarray
    t: np.ndarray
    y: np.ndarray
    se: np.ndarray
    lower: float
    group: list[Curve]
    lengths: np.ndarray | None
    loss: np.ndarray | None
    train_below: float | None
    rng: np.random.Generator


class NoInput(Exception):
    """A signal cannot be read for this curve (its message says why)."""


def _token_signal(ctx: SignalInput):
    tok = next((g for g in ctx.group if g.metric == TOKEN_PARTNER.get(ctx.c.metric)), None)
    if tok is None or ctx.lengths is None or not len(ctx.lengths):
        raise NoInput("no per-token accuracy of the same outputs")
    tmask = (tok.x < ctx.train_below if ctx.train_below is not None
             else np.ones(len(tok.x), bool))
    if tmask.sum() < 3:
        raise NoInput("too few per-token accuracy points")
    return _token_route(tok, tmask, ctx.lengths, ctx.rng), "per-token accuracy"


def _loss_signal(ctx: SignalInput):
    if ctx.loss is None or not np.isfinite(ctx.loss[ctx.mask]).sum() >= 3:
        raise NoInput("no validation loss")
    return (_loss_route(ctx.c, ctx.loss, ctx.mask, ctx.lower, ctx.rng),
            f"{ctx.c.metric} against the loss")


def _metric_signal(ctx: SignalInput):
    m = ctx.mask
    fit = fit_line(ctx.t[m], ctx.y[m], ctx.se[m], _metric_link(ctx.c, ctx.lower))
    return _line_route("metric", fit, ctx.t[m], ctx.y[m], ctx.se[m], ctx.rng), ctx.c.metric


# name -> signal(ctx) -> (route or None, what it read); `auto` tries them in this order
SIGNALS: dict = {"token_accuracy^L": _token_signal, "val_loss": _loss_signal,
                 "metric": _metric_signal}


def register_signal(name: str, read) -> None:
    """Add a forecast signal: read(SignalInput) returns (route, what it read) — a route as
    _line_route builds one, whose `signal` names it — or raises NoInput(why). `auto` tries it
    after the built-in ones."""
    if name in SIGNALS or name == "auto":
        raise ValueError(f"signal {name!r} is registered already")
    SIGNALS[name] = read


def forecast_curve(c: Curve, train_below: float | None, at: list[float] | None = None,
                   group: list[Curve] | None = None, lengths: np.ndarray | None = None,
                   loss: np.ndarray | None = None, signal: str = "auto",
                   seed: int = 0) -> Forecast:
    """Forecast curve c from its points below train_below (all points when None).

    group: the other metrics' curves of the same (family, task, variant, shots) — the token route
    needs the per-token accuracy; lengths: answer lengths in tokens of the task's examples (the L
    of p^L); loss: each of c's points' validation loss (aligned with c.x); at: extra x to
    forecast (default: the held-out points, or one decade past the ladder)."""
    if signal != "auto" and signal not in SIGNALS:
        raise UserError(f"unknown signal {signal!r} (known: auto, {', '.join(SIGNALS)})")
    rng = np.random.default_rng(seed)
    t, y, se, b = _curve_arrays(c)
    mask = np.ones(len(t), bool) if train_below is None else c.x < train_below
    fc = Forecast(c.keys, c.metric, c.x_name, None, "insufficient", train_below,
                  int(mask.sum()))
    fc.train = {"x": c.x[mask].tolist(), "y": c.y[mask].tolist()}
    if mask.sum() < 3:
        fc.note = f"{int(mask.sum())} points below the cutoff; a forecast needs 3"
        return fc
    lower = _lower(y[mask], b)
    ctx = SignalInput(c, mask, t, y, se, lower, group or [], lengths, loss, train_below, rng)
    candidates = tuple(SIGNALS) if signal == "auto" else (signal,)
    route, why = None, []
    for name in candidates:
        try:
            route, what = SIGNALS[name](ctx)
        except NoInput as missing:
            why.append(str(missing))
            route = None
            continue
        if route is not None and route.z >= Z_MOVE:
            break
        why.append(f"{what} does not move")
        route = None
    if route is None:  # no guess: the held-out points are listed with what was observed
        fc.status = NO_SIGNAL
        fc.note = "; ".join(dict.fromkeys(why))
        fc.points = [Point(float(xi), None, None, float(yi))
                     for xi, yi, m in zip(c.x, c.y, mask) if not m]
        return fc
    fc.signal, fc.status = route.signal, "forecast"
    # values: held-out points (with their own noise added), then --at
    xs = [(float(xi), float(yi), float(si)) for xi, yi, si, m in zip(c.x, y, se, mask) if not m]
    extra = list(at or [])
    if not xs and not extra:
        extra = [float(c.x.max() * 10)]
    noise_rng = np.random.default_rng(seed + 1)
    best = best_oriented(c)
    floor = 0.0 if (lookup(c.metric) is not None and c.higher_is_better
                    and lookup(c.metric).aggregation == "proportion") else -np.inf
    for xi, yi, si in xs:
        v = route.predict(np.array([math.log10(xi)]), route.params)[:, 0]
        # an observation's noise cannot take it past the metric's best value (or below 0)
        noisy = v[1:] + noise_rng.standard_normal(len(v) - 1) * si
        noisy = np.clip(noisy, floor, best if best is not None else np.inf)
        lo, hi = route.interval(noisy)
        fc.points.append(Point(xi, _own(c, v[0]), _own_pair(c, lo, hi), _own(c, yi)))
    for xi in extra:
        v = route.predict(np.array([math.log10(xi)]), route.params)[:, 0]
        lo, hi = route.interval(v[1:])
        fc.points.append(Point(float(xi), _own(c, v[0]), _own_pair(c, lo, hi), None, False))
    # the threshold: halfway from the lower level to the metric's best value
    if best is not None and best > lower:
        level = lower + 0.5 * (best - lower)
        fc.level = _own(c, level)
    if fc.level is not None and float(y[mask].max()) >= level:
        # the level is reached below the cutoff: the threshold is observed, not forecast
        fc.note = "halfway level already reached below the cutoff (analyze reads its threshold)"
    elif fc.level is not None:
        tc = route.crossing(level, route.params)
        reach = float(t[mask].max()) + HORIZON
        tc = np.where(np.isnan(tc) | (tc <= reach), tc, np.inf)
        tc = np.where(tc >= float(t[mask].min()) - HORIZON, tc, -np.inf)
        if np.isfinite(tc[0]):
            fc.threshold = float(10 ** tc[0])
        draws = tc[1:]
        if (~np.isnan(draws)).any():
            keep = ~np.isnan(draws)
            forms = route.forms[keep] if route.forms is not None else None
            lo, hi = Route(route.signal, None, None, route.params, forms=forms).interval(draws[keep])
            fc.threshold_ci = [float(10**lo) if np.isfinite(lo) else None,
                               float(10**hi) if np.isfinite(hi) else None]
    t_all = np.concatenate([t, np.log10([p.x for p in fc.points])]) if fc.points else t
    if fc.threshold:
        t_all = np.append(t_all, math.log10(fc.threshold))
    grid = np.linspace(t_all.min(), t_all.max() + 0.1, 120)
    v = route.predict(grid, route.params)
    low, high = route.interval(v[1:])
    own = [(_own(c, a), _own(c, b)) for a, b in zip(low, high)]  # -negated metrics swap ends
    fc.grid = {"x": (10**grid).tolist(), "predicted": [_own(c, q) for q in v[0]],
               "low": [min(p) for p in own], "high": [max(p) for p in own]}
    return fc


def _own(c: Curve, v: float) -> float:
    """An oriented value back in the metric's units."""
    return float(undo(c, float(v)))


def _own_pair(c: Curve, lo: float, hi: float) -> list[float]:
    a, b = _own(c, lo), _own(c, hi)
    return [min(a, b), max(a, b)]


def mean_abs_error(fc: Forecast) -> float | None:
    held = [abs(p.predicted - p.observed) for p in fc.points
            if p.held_out and p.observed is not None and p.predicted is not None]
    return float(np.mean(held)) if held else None

