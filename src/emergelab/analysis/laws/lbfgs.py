"""L-BFGS vectorised over many independent problems at once.

Fitting a scaling law from thousands of starts, and refitting thousands of bootstrap resamples,
are thousands of small smooth problems of the same shape. Looping scipy over them spends the time
in Python; here every iteration advances all of them with array operations: the two-loop
recursion, an Armijo backtracking line search and the stopping test are all batched, and a
problem that has converged simply stops moving.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# f(X, idx) -> (values, gradients) of problems idx (their per-problem data, e.g. bootstrap
# weights, is selected by idx) at parameters X (len(idx), P)
Objective = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class BatchResult:
    x: np.ndarray          # (K, P) solutions
    fun: np.ndarray        # (K,) objective values
    grad_norm: np.ndarray  # (K,) final gradient norms
    iterations: int
    converged: np.ndarray  # (K,) bool
    history: tuple         # (S, Y, rho, head, n_hist): each problem's curvature memory


def minimize_batch(fun: Objective, x0: np.ndarray, max_iter: int = 500, memory: int = 10,
                   gtol: float = 1e-8, ftol: float = 1e-13, max_backtracks: int = 30,
                   history: tuple | None = None) -> BatchResult:
    """Minimise K problems from x0 (K, P). `history` seeds every problem's curvature memory with
    one problem's (from an earlier BatchResult): warm starts on a similar objective (bootstrap
    resamples of the same fit) then take near-Newton steps from the first iteration."""
    x = np.array(x0, dtype=float, copy=True)
    K, P = x.shape
    f, g = fun(x, np.arange(K))
    if history is None:
        S = np.zeros((K, memory, P))
        Y = np.zeros((K, memory, P))
        rho = np.zeros((K, memory))
        head = np.zeros(K, dtype=int)    # slot of each problem's newest (s, y) pair
        n_hist = np.zeros(K, dtype=int)  # pairs stored, at most `memory`
    else:
        S, Y, rho, head, n_hist = (np.repeat(np.asarray(h)[None], K, axis=0).copy() for h in history)
        memory = S.shape[1]
    active = np.ones(K, dtype=bool)
    for it in range(1, max_iter + 1):
        act = np.nonzero(active)[0]  # only unconverged problems cost anything
        xa, fa, ga = x[act], f[act], g[act]
        Sa, Ya, ra, ha, na = S[act], Y[act], rho[act], head[act], n_hist[act]
        rows = np.arange(len(act))
        # --- two-loop recursion, each problem over its own history, newest first ----------------
        q = ga.copy()
        alphas = []
        for j in range(memory):
            slot = (ha - j) % memory
            a = np.where(na > j, ra[rows, slot] * np.einsum("kp,kp->k", Sa[rows, slot], q), 0.0)
            alphas.append(a)
            q -= a[:, None] * Ya[rows, slot]
        s_0, y_0 = Sa[rows, ha], Ya[rows, ha]
        yy = np.einsum("kp,kp->k", y_0, y_0)
        gamma = np.where((na > 0) & (yy > 0),
                         np.einsum("kp,kp->k", s_0, y_0) / np.where(yy > 0, yy, 1.0), 1.0)
        r = gamma[:, None] * q
        for j in reversed(range(memory)):
            slot = (ha - j) % memory
            b = ra[rows, slot] * np.einsum("kp,kp->k", Ya[rows, slot], r)
            r += np.where(na > j, alphas[j] - b, 0.0)[:, None] * Sa[rows, slot]
        d = -r
        slope = np.einsum("kp,kp->k", ga, d)
        bad = ~(slope < 0)  # not a descent direction: fall back to steepest descent
        d[bad] = -ga[bad]
        slope[bad] = -np.einsum("kp,kp->k", ga[bad], ga[bad])
        # without curvature information, the first step is scaled to unit length
        t = np.where(na > 0, 1.0, np.minimum(1.0, 1.0 / np.maximum(np.linalg.norm(d, axis=1), 1e-12)))
        # --- batched Armijo backtracking --------------------------------------------------------
        x_new, f_new, g_new = xa.copy(), fa.copy(), ga.copy()
        pending = np.ones(len(act), dtype=bool)
        for _ in range(max_backtracks):
            if not pending.any():
                break
            sub = np.nonzero(pending)[0]
            xt = xa[sub] + t[sub, None] * d[sub]
            ft, gt = fun(xt, act[sub])
            ok = np.isfinite(ft) & (ft <= fa[sub] + 1e-4 * t[sub] * slope[sub])
            acc = sub[ok]
            x_new[acc], f_new[acc], g_new[acc] = xt[ok], ft[ok], gt[ok]
            pending[acc] = False
            t[sub[~ok]] *= 0.5
        stalled = pending  # no acceptable step: stop where it stands
        # --- store the new curvature pair where it is informative -------------------------------
        s_new, y_new = x_new - xa, g_new - ga
        sy = np.einsum("kp,kp->k", s_new, y_new)
        keep = ~stalled & (sy > 1e-12)
        kk = act[keep]
        head[kk] = (head[kk] + 1) % memory
        S[kk, head[kk]], Y[kk, head[kk]] = s_new[keep], y_new[keep]
        rho[kk, head[kk]] = 1.0 / sy[keep]
        n_hist[kk] = np.minimum(n_hist[kk] + 1, memory)
        df = fa - f_new
        x[act], f[act], g[act] = x_new, f_new, g_new
        done = (np.linalg.norm(g_new, axis=1) < gtol) | (df <= ftol * np.abs(f_new)) | stalled
        active[act[done]] = False
        if not active.any():
            break
    return BatchResult(x, f, np.linalg.norm(g, axis=1), it, ~active, (S, Y, rho, head, n_hist))
