"""Chinchilla Approach-3 fit: EmergeLab's against Epoch's recipe, in the same run.

Reference — Epoch's recipe as their notebook (epoch-research/analyzing-chinchilla,
data_analysis.ipynb) writes it: the log-sum-exp prediction as log(exp(.) + exp(.) + exp(e)), the
Huber loss (delta 1e-3) of log L minus it, summed over points; scipy's L-BFGS-B with its default
finite-difference gradient from every start of the grid alpha, beta in {0, 0.5, ..., 2},
e in {-1, ..., 1}, a, b in {0, 5, ..., 25} (4,500 starts); keep the best.
Ours — `fit_chinchilla` with 4,000 bootstrap refits.
Also the whole command as a user runs it, start-up included: `emergelab fit chinchilla DATA
--bootstrap 4000` on the same points (a fresh process each time; the median of --repeats).
Checks, printed: the two optima agree to 4 significant digits; our intervals agree to 2 with
those of EmergeLab's previous method (every start and every resample run to convergence by
batched L-BFGS; 5.7x Epoch's recipe). Times are wall-clock in this run; `--reference-starts K` times K
evenly spread starts and scales to 4,500 (the printout says so).

Usage: python bench/fit_chinchilla.py [--data datasets/chinchilla_points.csv]
       [--bootstrap 4000] [--reference-starts 4500] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from emergelab.analysis.laws.chinchilla import PARAMS, HuberLSE, fit_chinchilla, start_grid, to_named
from emergelab.analysis.laws.lbfgs import minimize_batch

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "datasets" / "chinchilla_points.csv"


def epoch_objective(params, N, D, losses, delta=1e-3):
    a, b, e, alpha, beta = params
    pred = np.log(np.exp(a - alpha * np.log(N)) + np.exp(b - beta * np.log(D)) + np.exp(e))
    diff = np.log(losses) - pred
    cond = np.abs(diff) <= delta
    return np.sum(np.where(cond, 0.5 * diff**2, delta * (np.abs(diff) - 0.5 * delta)))


def reference_fit(N, D, L, starts: np.ndarray):
    best = None
    with np.errstate(over="ignore", invalid="ignore"):
        for x0 in starts:
            r = minimize(epoch_objective, x0, args=(N, D, L), method="L-BFGS-B")
            if best is None or r.fun < best.fun:
                best = r
    return best


def previous_method_ci(N, D, L, n: int, seed: int = 0, level: float = 0.95):
    """EmergeLab's previous method, the check on the intervals: every grid start run to a 1e-10
    tolerance by batched L-BFGS, then every resample (the same multinomial draws) refitted by
    L-BFGS from the three best distinct optima, its curvature memory seeded from the full fit."""
    objective = HuberLSE(N, D, L)
    res = minimize_batch(objective, start_grid(), ftol=1e-10, gtol=1e-10)
    order = np.argsort(res.fun)
    inits, hist = [res.x[order[0]]], None
    for k in order[1:]:
        if len(inits) >= 3:
            break
        if all(np.max(np.abs(res.x[k] - x)) > 1e-2 for x in inits):
            inits.append(res.x[k])
    hist = tuple(h[order[0]] for h in res.history)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(N), np.full(len(N), 1 / len(N)), size=n).astype(float)
    boot = minimize_batch(HuberLSE(N, D, L, weights=np.repeat(counts, len(inits), axis=0)),
                          np.tile(np.array(inits), (n, 1)), ftol=1e-10, gtol=1e-10, history=hist)
    f = boot.fun.reshape(n, len(inits))
    pick = boot.x.reshape(n, len(inits), 5)[np.arange(n), f.argmin(1)]
    samples = np.array([list(to_named(x).values()) for x in pick])
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    return {k: [float(np.quantile(samples[:, i], lo)), float(np.quantile(samples[:, i], hi))]
            for i, k in enumerate(PARAMS)}


def _sig(v: float, digits: int) -> str:
    return f"{v:.{digits}g}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--bootstrap", type=int, default=4000)
    ap.add_argument("--reference-starts", type=int, default=4500)
    ap.add_argument("--repeats", type=int, default=5, help="runs of the whole command")
    args = ap.parse_args()
    df = pd.read_csv(args.data)
    outliers = "epoch_excluded_outlier" in df.columns
    if outliers:
        df = df[df["epoch_excluded_outlier"] == 0]
    N, D, L = (df[c].to_numpy(float) for c in ("params", "tokens", "loss"))

    t = time.perf_counter()
    fit = fit_chinchilla(N, D, L, bootstrap=args.bootstrap)
    t_ours = time.perf_counter() - t
    print(f"ours: fit from 4,500 starts + {args.bootstrap} bootstrap refits: {t_ours:.2f} s")
    print("  estimates:", {k: _sig(v, 6) for k, v in fit.params.items()},
          f"objective {fit.objective:.10f}")
    print("  95% CI:   ", {k: [_sig(x, 4) for x in v] for k, v in fit.ci.items()})

    grid = start_grid()
    k = min(args.reference_starts, len(grid))
    pick = np.linspace(0, len(grid) - 1, k).round().astype(int)
    t = time.perf_counter()
    ref = reference_fit(N, D, L, grid[pick])
    t_ref = (time.perf_counter() - t) * len(grid) / k
    note = "" if k == len(grid) else f" (measured on {k} starts, scaled to 4,500)"
    ref_named = to_named(ref.x)
    print(f"reference: Epoch's recipe, scipy L-BFGS-B with finite differences, 4,500 starts: "
          f"{t_ref:.1f} s{note}")
    print("  estimates:", {kk: _sig(v, 6) for kk, v in ref_named.items()},
          f"objective {ref.fun:.10f}")
    same = all(_sig(fit.params[p], 4) == _sig(ref_named[p], 4) for p in PARAMS)
    print(f"same optimum to 4 significant digits: {same}")
    exact = previous_method_ci(N, D, L, args.bootstrap)
    same_ci = all(_sig(a, 2) == _sig(b, 2) for p in PARAMS for a, b in zip(fit.ci[p], exact[p]))
    print("previous method's 95% CI:", {kk: [_sig(x, 4) for x in v] for kk, v in exact.items()})
    print(f"same intervals to 2 significant digits: {same_ci}")
    print(f"speed-up, ours (fit + {args.bootstrap} bootstrap) vs Epoch's recipe (fit alone): "
          f"{t_ref / t_ours:.1f}x")
    command = [sys.executable, "-m", "emergelab", "fit", "chinchilla", str(args.data),
               "--bootstrap", str(args.bootstrap)]
    if outliers:
        command += ["--where", "epoch_excluded_outlier = 0"]
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    t_cmd = statistics.median(times)
    print(f"whole command (`emergelab fit chinchilla ... --bootstrap {args.bootstrap}`, start-up "
          f"included), median of {args.repeats}: {t_cmd:.2f} s "
          f"(runs {', '.join(f'{x:.2f}' for x in times)})")
    print(f"speed-up, whole command vs Epoch's recipe (fit alone): {t_ref / t_cmd:.1f}x")


if __name__ == "__main__":
    main()
