"""The Chinchilla parametric law L(N, D) = E + A / N^alpha + B / D^beta, fitted as Hoffmann et al.
2022 (Approach 3) and Besiroglu et al. 2024 (Epoch's replication) do:

    log L_hat = LSE(a - alpha log N, b - beta log D, e),   A = e^a, B = e^b, E = e^e

minimising the Huber loss (delta = 1e-3) of log-loss residuals, *summed* over points, from the
full grid of 4,500 starts, keeping the best; intervals from bootstrap refits over points.

Every start and every bootstrap resample is an independent 5-parameter problem; all of them are
solved together: a few batched L-BFGS steps (`lbfgs.py`) from every start, then batched Newton
with the exact Hessian (`newton.py`) for the most promising starts and every resample. A
bootstrap resample is a vector of integer weights over the same points, so no data is copied.
Plain numpy on a thread per core: the command needs no torch, whose import alone took longer
than the whole fit.
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

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
# on Epoch's 240 points (and on all 245) the best of 30 polished after 5 steps is the best of all
# 4,500 run to convergence by Newton, to 10 significant digits (bench/fit_chinchilla.py checks
# it against Epoch's recipe). Those steps only rank basins, so they run in float32, whose exp
# and log numpy vectorises (~4x faster than float64's here); the polish and the bootstrap
# refits are float64.
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


# Problems evaluated together in one block, and the arrays each thread reuses for them: every
# temporary is written into a buffer allocated once (`out=`), because a fresh temporary above
# glibc's 128 KiB mmap threshold faults its pages in again on every call, which made a block
# of 256 problems on Epoch's points ~2.5x slower per point than with buffers (AMD EPYC, numpy 2.4)
BLOCK = 256
BUFFERS = ("p1", "p2", "p3", "s", "r", "c", "q", "tmp", "tmp2")
_threads: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """One thread per core: numpy releases the GIL inside its kernels, so blocks of problems
    are evaluated in parallel without copying anything."""
    global _threads
    if _threads is None:
        _threads = ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1)))
    return _threads


class HuberLSE:
    """Objective, analytic gradient and exact Hessian for many problems at once (optionally
    weighted), in numpy (float64 unless told): blocks of BLOCK problems spread over a thread per
    core. Values come back in float64 whatever the working precision.

    With t1 = e^(a - alpha log N), t2 = e^(b - beta log D), t3 = e^e, s = t1 + t2 + t3, the
    residual is r = log s - log L and p = (t1, t2, t3) / s = d LSE / d u. The exponents stay far
    below overflow on any start of the grid and near any optimum; a trial step that overflows
    gives a non-finite value, which the line searches reject.
    """

    def __init__(self, N, D, L, delta: float = 1e-3, weights: np.ndarray | None = None,
                 dtype=np.float64):
        self.dtype = np.dtype(dtype)
        self.logN, self.logD, self.logL = (np.log(np.asarray(v, float)).astype(dtype)
                                           for v in (N, D, L))
        self.delta = delta
        self.weights = None if weights is None else np.asarray(weights, dtype)
        lN, lD, one = self.logN, self.logD, np.ones_like(self.logN)
        # per-point factors of the sums the gradient and Hessian need, so that each sum over
        # points is one matrix product
        self.by_N = np.stack([one, lN, lN * lN], 1)
        self.by_D = np.stack([one, lD, lD * lD], 1)
        self.by_ND = np.stack([one, lN, lD, lN * lD], 1)
        self._local = threading.local()

    def __call__(self, theta: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.evaluate(theta, idx, "gradient")

    def value(self, theta: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """The objective alone (a line search's trial steps)."""
        return self.evaluate(theta, idx, "value")[0]

    def with_hessian(self, theta: np.ndarray, idx: np.ndarray):
        """Values, gradients and exact Hessians (K, 5, 5) (analysis/laws/newton.py uses them)."""
        return self.evaluate(theta, idx, "hessian")

    def evaluate(self, theta: np.ndarray, idx: np.ndarray, order: str) -> tuple:
        """Problems idx at theta (K, 5), up to `order` (value, gradient, hessian)."""
        theta = np.ascontiguousarray(theta, dtype=self.dtype)
        idx = np.asarray(idx)

        def block(s: int) -> tuple:
            w = None if self.weights is None else self.weights[idx[s:s + BLOCK]]
            return self._block(theta[s:s + BLOCK], w, order)

        starts = range(0, len(theta), BLOCK)
        parts = list(_pool().map(block, starts)) if len(starts) > 1 else [block(0)]
        return tuple(np.concatenate(x).astype(float) for x in zip(*parts))

    def _buffers(self, rows: int) -> dict[str, np.ndarray]:
        """This thread's work arrays, (rows, points) each, allocated on its first block."""
        space = getattr(self._local, "space", None)
        if space is None:
            space = self._local.space = np.empty((len(BUFFERS), BLOCK, len(self.logN)),
                                                 dtype=self.dtype)
            self._local.inside = np.empty((BLOCK, len(self.logN)), dtype=bool)
        return {name: space[i, :rows] for i, name in enumerate(BUFFERS)}

    def _block(self, th: np.ndarray, w: np.ndarray | None, order: str) -> tuple:
        d = self.delta
        a, b, e, al, be = (th[:, i:i + 1] for i in range(5))
        B = self._buffers(len(th))
        p1, p2, p3, s, r, c, q, tmp, tmp2 = (B[k] for k in BUFFERS)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            t3 = np.exp(e)
            np.exp(np.subtract(a, np.multiply(al, self.logN, out=p1), out=p1), out=p1)  # t1
            np.exp(np.subtract(b, np.multiply(be, self.logD, out=p2), out=p2), out=p2)  # t2
            np.add(np.add(p1, p2, out=s), t3, out=s)
            np.subtract(np.log(s, out=r), self.logL, out=r)
            np.clip(r, -d, d, out=c)  # d Huber / d r
            # Huber: r^2 / 2 inside [-d, d], d (|r| - d / 2) outside; both are c (r - c / 2)
            h = np.multiply(np.add(np.multiply(c, -0.5, out=tmp), r, out=tmp), c, out=tmp)
            if w is not None:
                h *= w
            f = h.sum(1)
            if order == "value":
                return (f,)
            np.divide(1.0, s, out=s)
            p1 *= s
            p2 *= s
            np.multiply(t3, s, out=p3)
            if w is not None:
                c *= w
            # grad r = (p1, p2, p3, -p1 log N, -p2 log D)
            s1 = np.multiply(c, p1, out=tmp) @ self.by_N  # sums of c p1 times 1, log N, log N^2
            s2 = np.multiply(c, p2, out=tmp) @ self.by_D
            s3 = np.multiply(c, p3, out=tmp).sum(1)
            g = np.stack([s1[:, 0], s2[:, 0], s3, -s1[:, 1], -s2[:, 1]], 1)
            if order == "gradient":
                return f, g
            # Hessian of r: J^T (diag p - p p^T) J with J = du/dtheta, so the objective's is
            # sum_i (h''_i - h'_i) grad r_i grad r_i^T + sum_i J_i^T diag(h'_i p_i) J_i
            inside = self._local.inside[:len(th)]
            np.less_equal(np.abs(r, out=tmp), d, out=inside)
            np.copyto(q, inside)  # h''
            if w is not None:
                q *= w
            q -= c
            np.multiply(q, p1, out=tmp)
            v11 = np.multiply(tmp, p1, out=tmp2) @ self.by_N
            v12 = np.multiply(tmp, p2, out=tmp2) @ self.by_ND
            v13 = np.multiply(tmp, p3, out=tmp2) @ self.by_N[:, :2]
            np.multiply(q, p2, out=tmp)
            v22 = np.multiply(tmp, p2, out=tmp2) @ self.by_D
            v23 = np.multiply(tmp, p3, out=tmp2) @ self.by_D[:, :2]
            v33 = np.multiply(np.multiply(q, p3, out=tmp), p3, out=tmp2).sum(1)
            H = np.empty((len(th), 5, 5), dtype=self.dtype)
            for (i, j), v in {(0, 0): v11[:, 0] + s1[:, 0], (1, 1): v22[:, 0] + s2[:, 0],
                              (2, 2): v33 + s3, (3, 3): v11[:, 2] + s1[:, 2],
                              (4, 4): v22[:, 2] + s2[:, 2], (0, 1): v12[:, 0],
                              (0, 2): v13[:, 0], (0, 3): -v11[:, 1] - s1[:, 1],
                              (0, 4): -v12[:, 2], (1, 2): v23[:, 0], (1, 3): -v12[:, 1],
                              (1, 4): -v22[:, 1] - s2[:, 1], (2, 3): -v13[:, 1],
                              (2, 4): -v23[:, 1], (3, 4): v12[:, 3]}.items():
                H[:, i, j] = H[:, j, i] = v
            return f, g, H


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
    coarse = minimize_batch(HuberLSE(N, D, L, delta, dtype=np.float32), grid,
                            max_iter=COARSE_ITERATIONS, ftol=1e-8, gtol=1e-8)
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
        samples = np.column_stack([np.exp(pick[:, [2, 0, 1]]), pick[:, 3:]])  # as PARAMS
        fit.bootstrap = samples
        lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
        fit.ci = {k: [float(np.quantile(samples[:, i], lo)), float(np.quantile(samples[:, i], hi))]
                  for i, k in enumerate(PARAMS)}
    return fit
