"""How well `predict` forecasts, scored against truth it never saw.

1. ObsScaling (Ruan et al. 2024's CSVs, the paper's 8.4e22-FLOPs split): mean absolute error on
   the held-out models for every target column, capability components vs a sigmoid in log FLOPs.
2. Planted curves (Schaeffer et al.'s story: per-token loss a power law in x, exact match p^L),
   fitted only on members whose exact match is still below 0.1: how often the forecast threshold
   lies within 0.3 decade of the planted one, how often the 90% interval covers it, how often the
   forecast says "no signal yet"; and on planted flat curves, how often anything is forecast.
   Also the same on a curve the forecast does not assume (per-token accuracy linear in log x).
3. Runs (optional): `--run DIR:TASK/VARIANT:CUTOFF` forecasts that curve's exact match from the
   members below CUTOFF and compares with the threshold `analyze` finds on the whole run.

Usage: python bench/forecast_backtests.py [--n 200] [--seed 0] [--run runs/demo:add/reversed:30000]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

from emergelab.analysis import analyze
from emergelab.analysis.verdicts.curves import build_curves
from emergelab.analysis.forecasting.forecast import forecast_curve
from emergelab.analysis.forecasting.obs_scaling import observational_forecast
from emergelab.planted import forecast_planted_power_tokens, planted_table
from emergelab.analysis.forecasting.predict_source import predict

OBS = Path(__file__).resolve().parents[2] / "shared" / "data" / "obs_scaling"


def obs_scaling() -> None:
    r = observational_forecast(OBS / "base_llm_benchmark_eval.csv",
                               OBS / "base_llm_emergent_capability_eval.csv", 8.4e22)
    print("ObsScaling, fitted below 8.4e22 FLOPs; held-out MAE "
          f"(components explain {', '.join(f'{v:.1%}' for v in r.explained)})")
    print(f"{'task':34} {'components':>11} {'log FLOPs':>10}")
    for task in r.mae:
        print(f"{task:34} {r.mae[task]:11.3f} {r.mae_logflops[task]:10.3f}")
    acc = [t for t in r.mae if r.scaled[t] == 1.0]
    ours, ref = np.mean([r.mae[t] for t in acc]), np.mean([r.mae_logflops[t] for t in acc])
    print(f"{'mean of ' + str(len(acc)) + ' accuracy columns':34} {ours:11.3f} {ref:10.3f}\n")


def _em(curves):
    return next(c for c in curves if c.metric == "exact_match")


def planted(rng, n: int) -> None:
    within = covered = none = 0
    for _ in range(n):
        f, truth = forecast_planted_power_tokens(rng)
        if f.threshold is None:
            none += 1
            continue
        within += abs(math.log10(f.threshold / truth["threshold"])) <= 0.3
        lo, hi = f.threshold_ci
        covered += (lo or 0) <= truth["threshold"] <= (hi or math.inf)
    print(f"planted power-law per-token loss, p^L exact match, fitted below exact match 0.1 "
          f"({n} curves):\n  threshold within 0.3 decade {within / n:.0%}, 90% interval covers "
          f"{covered / n:.0%}, no signal yet {none / n:.0%}")
    signal = thresholds = 0
    for _ in range(n):
        em, _ = planted_table("flat", rng)
        tok = em.assign(metric="token_accuracy", n=em["n"] * 5)
        curves = build_curves(pd.concat([em, tok]), "params_nonembed")
        f = forecast_curve(_em(curves), 10**8.5, group=curves, lengths=np.array([5]))
        signal += f.signal is not None
        thresholds += f.threshold is not None
    print(f"  flat curves: a signal {signal}/{n}, a threshold {thresholds}/{n}")
    # a curve outside the forecast's own assumption: per-token accuracy linear in log x
    errs, cover = [], 0
    for _ in range(n):
        df, truth = planted_table("mirage", rng)
        if "threshold" not in truth or not (truth["em"] > 0.1).any():
            continue
        cut_i = int(np.argmax(truth["em"] > 0.1))
        if cut_i < 3:
            continue
        curves = build_curves(df, "params_nonembed")
        f = forecast_curve(_em(curves), truth["x"][cut_i], group=curves,
                           lengths=np.array([truth["L"]]))
        if f.threshold:
            errs.append(math.log10(f.threshold / truth["threshold"]))
            lo, hi = f.threshold_ci
            cover += (lo or 0) <= truth["threshold"] <= (hi or math.inf)
    if errs:
        errs = np.array(errs)
        print(f"  per-token accuracy linear in log x (not the assumed form), {len(errs)} curves "
              f"with a forecast: within 0.3 decade {np.mean(abs(errs) <= 0.3):.0%}, median "
              f"error {np.median(errs):+.2f} decade, 90% interval covers {cover / len(errs):.0%}\n")


def run_curve(spec: str) -> None:
    path, curve, cutoff = spec.rsplit(":", 2)
    task, _, variant = curve.partition("/")
    variant = variant or "plain"
    whole = analyze(path)
    (truth,) = [r for r in whole.results if r.task == task and r.variant == variant
                and r.metric == "exact_match"]
    p = predict(path, train_below=float(cutoff))
    (f,) = [f for f in p.forecasts if f.keys["task"] == task and f.keys["variant"] == variant
            and f.metric == "exact_match"]
    print(f"{path} {curve}: analyze on the whole run: threshold {truth.threshold:.4g} "
          f"{truth.threshold_ci}")
    if f.threshold is None:
        print(f"  forecast from below {float(cutoff):g}: {f.status} ({f.note})")
        return
    d = math.log10(f.threshold / truth.threshold)
    lo, hi = f.threshold_ci
    inside = (lo or 0) <= truth.threshold <= (hi or math.inf)
    print(f"  forecast from below {float(cutoff):g} via {f.signal}: {f.threshold:.4g} "
          f"[{lo}, {hi}]; {d:+.2f} decade off; interval contains it: {inside}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--run", action="append", default=[], help="DIR:TASK/VARIANT:CUTOFF")
    args = ap.parse_args()
    if OBS.exists():
        obs_scaling()
    planted(np.random.default_rng(args.seed), args.n)
    for spec in args.run:
        run_curve(spec)


if __name__ == "__main__":
    main()
