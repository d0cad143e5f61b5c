"""Forecasting a curve beyond the models it was fitted on: values with intervals, and the
threshold (where the forecast crosses halfway from the lower level to the metric's best value).

Every forecast is a line in a transformed space, z = a + b·s (routes.py), fitted by weighted
least squares in the metric's own space (each point with its own noise, so points sitting at
chance constrain the fit without being transformed into infinities). s is log10 x, or the
validation loss for the second step of the loss route. Uncertainty: the Laplace approximation
of (a, b) (covariance from the Jacobian, scaled up by the reduced chi-square when the points
scatter more than their noise), drawn from a Student-t with n - 2 degrees of freedom; values and
crossings are computed per draw.

The signals a forecast can use (`SIGNALS`, a registry: `register_signal` adds one; `auto` tries
them in this order):

- "finetune" (Snell et al. 2024): for exact match, copies of the members below the cutoff
  fine-tuned on k examples of the task for a grid of k (`predict --finetune`), their emergence
  law (emergence_law.py) read at k = 0, the run's own setting. Only runs whose probes were asked
  for have it, and where they were it comes first: in the two backtests with probes its 90%
  interval held the threshold found on the whole run both times, while the passive signal that
  moved (token_accuracy^L on chain-of-thought word problems) put it 1.8 decades late with an
  interval that missed it.
- "token_accuracy^L" (Schaeffer et al. 2023): for exact match of generated answers, the
  per-token accuracy p of the same outputs, whose above-chance share u = (p - c) / (1 - c) falls
  off as a power law in its log (-ln u = A·x^-α, i.e. ln(-ln u) linear in log x: per-token loss as
  a power law), and exact match as the mean over examples of p^L (L: each example's answer length
  in the scorer's tokens). It sees an ability coming while exact match is still at chance.
- "val_loss" (Owen 2024; Bhagia et al. 2024; Du et al. 2024): two steps — the validation loss as a
  power law in x, and the metric as a logistic in the loss. Needs the metric itself to move.
- "pass_prob" (Hu et al. 2024, PassUntil): for exact match, the mean pass probability of
  answers sampled until correct (a task's `pass_until`, evaluate/pass_until.py), whose log10 is a
  straight line in log10 x; exact match read as that probability. It resolves abilities far
  below 1/n; a sampled answer passes less often than the greedy one, so the threshold it gives is
  a late estimate. Only runs that asked for it have it, so it changes no other forecast.
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

from ...errors import UserError
from ...evaluate.registry import lookup
from ..verdicts.curves import Curve, best_oriented, undo
from .emergence_law import ProbePoints, dispersion, law_curves, law_route
from .routes import (LEVEL, Route, curve_arrays, fit_line, line_route, loss_route, lower_level,
                     metric_link, pass_route, token_route)

Z_MOVE = 3.0        # a signal moves when it improves by this many standard errors
TOKEN_PARTNER = {"exact_match": "token_accuracy"}  # a discrete metric -> its per-token partner
PASS_PARTNER = {"exact_match": "log_pass_prob"}    # ... -> its sampled pass probability
PROBED = ("exact_match",)   # metrics an emergence law of fine-tuning probes reads
DISPERSED = 4.0     # a law whose points scatter this many times their noise says so
NO_SIGNAL = "no signal yet"
HORIZON = 3.0       # decades past the largest training point: a crossing beyond is "open"


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
    law: dict | None = None             # the finetune signal's fitted law and its probes

    def to_json(self) -> dict:
        return {**{k: v for k, v in self.keys.items()}, "metric": self.metric, "x": self.x,
                "signal": self.signal, "status": self.status, "train_below": self.train_below,
                "n_train": self.n_train, "threshold": self.threshold,
                "threshold_ci": self.threshold_ci, "threshold_level": self.level,
                "interval_level": LEVEL, "note": self.note,
                "points": [{"x": p.x, "predicted": p.predicted, "interval": p.interval,
                            "observed": p.observed, "held_out": p.held_out} for p in self.points],
                **({"law": self.law} if self.law else {})}


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
    probes: ProbePoints | None = None   # fine-tuning probes with the run's own points (k = 0)


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
    return token_route(tok, tmask, ctx.lengths, ctx.rng), "per-token accuracy"


def _loss_signal(ctx: SignalInput):
    if ctx.loss is None or not np.isfinite(ctx.loss[ctx.mask]).sum() >= 3:
        raise NoInput("no validation loss")
    return (loss_route(ctx.c, ctx.loss, ctx.mask, ctx.lower, ctx.rng),
            f"{ctx.c.metric} against the loss")


def _pass_signal(ctx: SignalInput):
    pp = next((g for g in ctx.group if g.metric == PASS_PARTNER.get(ctx.c.metric)), None)
    if pp is None:
        raise NoInput("no sampled pass probability (a task's pass_until)")
    pmask = pp.x < ctx.train_below if ctx.train_below is not None else np.ones(len(pp.x), bool)
    route = pass_route(pp, pmask, ctx.rng)
    if route is None:
        raise NoInput("too few sampled pass-probability points")
    return route, "the sampled pass probability"


def _finetune_signal(ctx: SignalInput):
    best = best_oriented(ctx.c)
    if ctx.c.metric not in PROBED or best is None or not best > ctx.lower:
        raise NoInput("")  # not a metric probes read: nothing to say
    if ctx.probes is None:
        raise NoInput("no fine-tuning probes (predict --finetune)")
    if len(ctx.probes.grid) < 3:
        raise NoInput("fine-tuning probes at fewer than 3 values of k")
    route, law = law_route(ctx.probes, ctx.lower, best, int(ctx.rng.integers(2**31)))
    route.detail = {**law.to_json(), "k": ctx.probes.grid,
                    "dispersion": dispersion(law, ctx.probes, ctx.lower, best),
                    "curves": law_curves(law, ctx.probes, ctx.lower, best)}
    return route, "exact match of the fine-tuned probes"


def _metric_signal(ctx: SignalInput):
    m = ctx.mask
    fit = fit_line(ctx.t[m], ctx.y[m], ctx.se[m], metric_link(ctx.c, ctx.lower))
    return line_route("metric", fit, ctx.t[m], ctx.y[m], ctx.se[m], ctx.rng), ctx.c.metric


# name -> signal(ctx) -> (route or None, what it read); `auto` tries them in this order
SIGNALS: dict = {"finetune": _finetune_signal, "token_accuracy^L": _token_signal,
                 "val_loss": _loss_signal, "pass_prob": _pass_signal, "metric": _metric_signal}


def register_signal(name: str, read) -> None:
    """Add a forecast signal: read(SignalInput) returns (route, what it read) — a route as
    line_route builds one, whose `signal` names it — or raises NoInput(why). `auto` tries it
    after the built-in ones."""
    if name in SIGNALS or name == "auto":
        raise ValueError(f"signal {name!r} is registered already")
    SIGNALS[name] = read


def forecast_curve(c: Curve, train_below: float | None, at: list[float] | None = None,
                   group: list[Curve] | None = None, lengths: np.ndarray | None = None,
                   loss: np.ndarray | None = None, signal: str = "auto",
                   seed: int = 0, probes: ProbePoints | None = None) -> Forecast:
    """Forecast curve c from its points below train_below (all points when None).

    group: the other metrics' curves of the same (family, task, variant, shots) — the token route
    needs the per-token accuracy; lengths: answer lengths in tokens of the task's examples (the L
    of p^L); loss: each of c's points' validation loss (aligned with c.x); at: extra x to
    forecast (default: the held-out points, or one decade past the ladder)."""
    if signal != "auto" and signal not in SIGNALS:
        raise UserError(f"unknown signal {signal!r} (known: auto, {', '.join(SIGNALS)})")
    rng = np.random.default_rng(seed)
    t, y, se, b = curve_arrays(c)
    mask = np.ones(len(t), bool) if train_below is None else c.x < train_below
    fc = Forecast(c.keys, c.metric, c.x_name, None, "insufficient", train_below,
                  int(mask.sum()))
    fc.train = {"x": c.x[mask].tolist(), "y": c.y[mask].tolist()}
    if mask.sum() < 3:
        fc.note = f"{int(mask.sum())} points below the cutoff; a forecast needs 3"
        return fc
    lower = lower_level(y[mask], b)
    ctx = SignalInput(c, mask, t, y, se, lower, group or [], lengths, loss, train_below, rng,
                      probes)
    candidates = tuple(SIGNALS) if signal == "auto" else (signal,)
    route, why = None, []
    for name in candidates:
        try:
            route, what = SIGNALS[name](ctx)
        except NoInput as missing:
            if str(missing):
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
    fc.signal, fc.status, fc.law = route.signal, "forecast", route.detail
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
    if fc.law and fc.law["dispersion"] > DISPERSED and not fc.note:
        fc.note = (f"the probes scatter {fc.law['dispersion']:.0f}x beyond their binomial noise "
                   "(members differ more than the law says)")
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

