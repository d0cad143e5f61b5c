"""The Chinchilla parametric law L(N, D) = E + A / N^alpha + B / D^beta, fitted as Hoffmann et al.
2022 (Approach 3) and Besiroglu et al. 2024 (Epoch's replication) do:

    log L_hat = LSE(a - alpha log N, b - beta log D, e),   A = e^a, B = e^b, E = e^e

minimising the Huber loss (delta = 1e-3) of log-loss residuals, *summed* over points, from the
full grid of 4,500 starts, keeping the best; intervals from bootstrap refits over points.

Every start and every bootstrap resample is an independent 5-parameter problem; all of them are
solved together: a few batched L-BFGS steps (`lbfgs.py`) from every start, then batched Newton
with the exact Hessian (`newton.py`) for the most promising starts and every resample. A
bootstrap resample is a vector of integer weights over the same points, so no data is copied.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import torch

from ...errors import UserError
from .lbfgs import minimize_batch
from .newton import newton_batch

PARAMS = ("E", "A", "B", "alpha", "beta")
FORMULA = "L(N, D) = E + A / N^alpha + B / D^beta"
# Relative decrease and gradient norm at which a Newton refinement stops. The summed Huber
# objective is ~1e-3 with gradients ~1e-4, so scipy's absolute defaults would stop warm-started
# bootstrap refits at their start and shrink the intervals; 100x tighter than these changes no
# estimate or interval in its fourth significant digit.
TOLERANCES = {"ftol": 1e-10, "gtol": 1e-8}
# L-BFGS steps every grid start takes before the best are polished, and how many are polished:
# on Epoch's 240 points the best of 30 polished after 5 steps (even of 10 after 3) is the best of
# all 4,500 run to convergence, to 7 significant digits (bench/fit_chinchilla.py checks it)
COARSE_ITERATIONS = 5
POLISHED = 30
RIVAL = 1.5  # a local optimum this close to the best objective also starts bootstrap refits


def start_grid() -> np.ndarray:
    """Hoffmann et al.'s grid: alpha, beta in {0, 0.5, ..., 2}, e in {-1, -0.5, ..., 1},
    a, b in {0, 5, ..., 25}; rows are (a, b, e, alpha, beta)."""
    exps = np.arange(0, 2.01, 0.5)
    es = np.arange(-1, 1.01, 0.5)
    ab = np.arange(0, 25.1, 5)
    return np.array([(a, b, e, al, be) for al, be, e, a, b in
                     itertools.product(exps, exps, es, ab, ab)], dtype=float)


class HuberLSE:
    """Objective and analytic gradient for many problems at once (optionally weighted).

    Evaluated with torch in float64: its element-wise kernels use both cores, which made one
    evaluation over the 4,500-start grid ~2.5x faster than numpy here.
    """

    def __init__(self, N, D, L, delta: float = 1e-3, weights: np.ndarray | None = None):
        self.logN, self.logD, self.logL = (torch.from_numpy(np.log(np.asarray(v, float)))
                                           for v in (N, D, L))
        self.delta = delta
        self.weights = None if weights is None else torch.from_numpy(np.asarray(weights, float))

    def __call__(self, theta: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.evaluate(theta, idx, hessian=False)

    def value(self, theta: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """The objective alone (a line search's trial steps)."""
        th = torch.from_numpy(np.ascontiguousarray(theta))
        a, b, e, al, be = (th[:, i:i + 1] for i in range(5))
        u1 = a - al * self.logN
        r = torch.logsumexp(torch.stack([u1, b - be * self.logD, e.expand_as(u1)]), 0) - self.logL
        absr = r.abs()
        d = self.delta
        h = torch.where(absr <= d, 0.5 * r * r, d * (absr - 0.5 * d))
        if self.weights is not None:
            h = h * self.weights[torch.from_numpy(np.asarray(idx))]
        return h.sum(1).numpy()

    def with_hessian(self, theta: np.ndarray, idx: np.ndarray):
        """Values, gradients and exact Hessians (K, 5, 5) (analysis/laws/newton.py uses them)."""
        return self.evaluate(theta, idx, hessian=True)

    def evaluate(self, theta: np.ndarray, idx: np.ndarray, hessian: bool):
        """With u = (a - alpha log N, b - beta log D, e), r = LSE(u) - log L and p = softmax(u):
        grad r = (p1, p2, p3, -p1 log N, -p2 log D); the Hessian of r is J^T (diag p - p p^T) J
        with J = du/dtheta, so the objective's Hessian is
        sum_i (h''_i - h'_i) grad r_i grad r_i^T + sum_i J_i^T diag(h'_i p_i) J_i."""
        th = torch.from_numpy(np.ascontiguousarray(theta))
        a, b, e, al, be = (th[:, i:i + 1] for i in range(5))
        u1 = a - al * self.logN
        u = torch.stack([u1, b - be * self.logD, e.expand_as(u1)])
        m = u.amax(0)
        z = torch.exp(u - m)
        tot = z.sum(0)
        r = m + torch.log(tot) - self.logL
        p = z / tot  # softmax = d LSE / d u, from the same exponentials
        d = self.delta
        absr = r.abs()
        h = torch.where(absr <= d, 0.5 * r * r, d * (absr - 0.5 * d))
        c = r.clamp(-d, d)  # d Huber / d r
        if self.weights is not None:
            w = self.weights[torch.from_numpy(np.asarray(idx))]
            h, c = h * w, c * w
        cp1, cp2 = c * p[0], c * p[1]
        grad = torch.stack([cp1.sum(1), cp2.sum(1), (c * p[2]).sum(1),
                            -(cp1 * self.logN).sum(1), -(cp2 * self.logD).sum(1)], dim=1)
        if not hessian:
            return h.sum(1).numpy(), grad.numpy()
        curv = (absr <= d).to(r.dtype)  # h''
        if self.weights is not None:
            curv = curv * w
        # the outer-product sum in float32: the Hessian only shapes Newton's step (values and
        # gradients, which decide convergence, stay in float64); 2x faster
        p32, lN32, lD32 = p.float(), self.logN.float(), self.logD.float()
        gr = torch.stack([p32[0], p32[1], p32[2], -p32[0] * lN32, -p32[1] * lD32], dim=2)
        H = torch.bmm((gr * (curv - c).float().unsqueeze(2)).transpose(1, 2), gr).double()
        cp3 = c * p[2]
        lN, lD = self.logN, self.logD
        H[:, 0, 0] += cp1.sum(1)
        H[:, 1, 1] += cp2.sum(1)
        H[:, 2, 2] += cp3.sum(1)
        H[:, 3, 3] += (cp1 * lN * lN).sum(1)
        H[:, 4, 4] += (cp2 * lD * lD).sum(1)
        off_a = -(cp1 * lN).sum(1)
        off_b = -(cp2 * lD).sum(1)
        H[:, 0, 3] += off_a
        H[:, 3, 0] += off_a
        H[:, 1, 4] += off_b
        H[:, 4, 1] += off_b
        return h.sum(1).numpy(), grad.numpy(), H.numpy()


def to_named(theta: np.ndarray) -> dict[str, float]:
    a, b, e, al, be = theta
    return {"E": float(np.exp(e)), "A": float(np.exp(a)), "B": float(np.exp(b)),
            "alpha": float(al), "beta": float(be)}


@dataclass
class ChinchillaFit:
    params: dict[str, float]
    n_points: int
    objective: float
    ci: dict[str, list[float]] = field(default_factory=dict)
    bootstrap: np.ndarray | None = None  # (n_boot, 5) rows of E, A, B, alpha, beta
    starts: int = 0
    converged_starts: int = 0
    # what the data cannot tell: a parameter at the edge of its range, a term not identified
    warnings: list[str] = field(default_factory=list)

    def to_json(self, include_samples: bool = False) -> dict:
        out = {"law": "chinchilla", "formula": FORMULA, "params": self.params, "ci": self.ci,
               "n_points": self.n_points, "objective": self.objective,
               "warnings": self.warnings}
        if include_samples and self.bootstrap is not None:
            # 6 significant digits: far below the bootstrap spread, half the file size
            out["bootstrap"] = {k: [float(f"{v:.6g}") for v in self.bootstrap[:, i]]
                                for i, k in enumerate(PARAMS)}
        return out

    def to_frame(self):
        """The parameters with their intervals, one row each."""
        from .power_laws import params_frame

        return params_frame(self.params, self.ci)

    def predict(self, N, D) -> np.ndarray:
        p = self.params
        return p["E"] + p["A"] / np.asarray(N, float) ** p["alpha"] + p["B"] / np.asarray(D, float) ** p["beta"]


def chinchilla_warnings(p: dict[str, float], N, D, L) -> list[str]:
    """What the points cannot identify, said in words: a term whose variable never varies, an
    irreducible loss pushed to its bound 0, exponents outside any plausible range."""
    out = []
    for name, v, coef, exp in (("params", N, "A", "alpha"), ("tokens", D, "B", "beta")):
        if len(np.unique(v)) < 3:
            out.append(f"{name} takes {len(np.unique(v))} value(s): {coef} and {exp} are not "
                       f"identified (vary {name}, or fit one variable with `fit kaplan`)")
    if p["E"] < 1e-3 * float(np.min(L)):
        out.append(f"E = {p['E']:.3g} sits at its bound 0: these points show no irreducible loss "
                   "(E and the other terms trade off)")
    for k in ("alpha", "beta"):
        if not 0.01 < p[k] < 3:
            out.append(f"{k} = {p[k]:.3g} is outside (0.01, 3): the fit is not a scaling law here")
    return out


def check_points(N, D, L) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    N, D, L = (np.asarray(v, dtype=float) for v in (N, D, L))
    for name, v in (("params", N), ("tokens", D), ("loss", L)):
        if not np.all(np.isfinite(v)):
            raise UserError(f"column {name!r} has missing or non-finite values")
        if np.any(v <= 0):
            raise UserError(f"column {name!r} must be positive (found {v[v <= 0][0]:g})")
    if len(N) < len(PARAMS):
        raise UserError(f"{len(N)} points cannot determine {len(PARAMS)} parameters")
    return N, D, L


def fit_chinchilla(N, D, L, delta: float = 1e-3, bootstrap: int = 0, seed: int = 0,
                   level: float = 0.95, boot_starts: int = 3) -> ChinchillaFit:
    """Fit from the full 4,500-start grid; `bootstrap` resamples of the points give intervals.

    Every start takes COARSE_ITERATIONS batched L-BFGS steps — enough to rank the basins — and the
    POLISHED best are finished by batched Newton with the exact Hessian (analysis/laws/newton.py), which
    needs a few dozen steps where L-BFGS needs hundreds on this kinked (Huber) objective. The
    bootstrap refits start from the distinct polished optima (at most boot_starts) and also run
    Newton: from a nearby optimum it converges in about ten steps."""
    N, D, L = check_points(N, D, L)
    objective = HuberLSE(N, D, L, delta)
    grid = start_grid()
    coarse = minimize_batch(objective, grid, max_iter=COARSE_ITERATIONS, ftol=1e-8, gtol=1e-8)
    candidates = coarse.x[np.argsort(coarse.fun)[:POLISHED]]
    res = newton_batch(objective.with_hessian, candidates, value=objective.value, **TOLERANCES)
    order = np.argsort(res.fun)
    best = res.x[order[0]]
    fit = ChinchillaFit(to_named(best), len(N), float(res.fun[order[0]]), starts=len(grid),
                        converged_starts=int(res.converged.sum()))
    fit.warnings = chinchilla_warnings(fit.params, N, D, L)
    if bootstrap > 0:
        # a resample's optimum lies near one of the full data's distinct optima that could win
        # on a resample: those within RIVAL of the best objective (on Epoch's points the only
        # other optima are degenerate ones 11x worse, so every resample starts from the best)
        inits = [best]
        for k in order[1:]:
            if len(inits) >= boot_starts or res.fun[k] > RIVAL * res.fun[order[0]]:
                break
            if all(np.max(np.abs(res.x[k] - x)) > 1e-2 for x in inits):
                inits.append(res.x[k])
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(len(N), np.full(len(N), 1 / len(N)), size=bootstrap).astype(float)
        weights = np.repeat(counts, len(inits), axis=0)
        x0 = np.tile(np.array(inits), (bootstrap, 1))
        resampled = HuberLSE(N, D, L, delta, weights)
        boot = newton_batch(resampled.with_hessian, x0, value=resampled.value, **TOLERANCES)
        f = boot.fun.reshape(bootstrap, len(inits))
        pick = boot.x.reshape(bootstrap, len(inits), 5)[np.arange(bootstrap), f.argmin(1)]
        samples = np.array([[v for v in to_named(t).values()] for t in pick])
        fit.bootstrap = samples
        lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
        fit.ci = {k: [float(np.quantile(samples[:, i], lo)), float(np.quantile(samples[:, i], hi))]
                  for i, k in enumerate(PARAMS)}
    return fit
