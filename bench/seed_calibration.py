"""How the seed-aware analysis does on planted recipes with several training seeds.

Each planted recipe: every seed jumps sharply (10-90% width 0.1-0.3 decade) at its own threshold,
drawn around the population's with SD `spread` (0.1-0.3 decade); one ladder every 0.2-0.45 decade
from a random offset; binomial noise on 200 examples per point (analysis/planted.planted_seeds).

Reports, at 3-5 seeds per size:
- the population threshold's nominal 95% interval: coverage of the planted population threshold,
  median width in ladder spacings; each seed's own interval: coverage of that seed's threshold;
  reference in the same run: the same tables without their seed column (seeds averaged as if they
  were re-evaluations of one model);
- how often the curve is called hard emergence;
- compare on pairs of recipes (B's ladder offset by half a spacing, same levels): 3 seeds per
  side, same recipe and a 0.6-decade shift; one seed per side with --seed-spread set to the
  planted spread, and without it (significant must then be None).

Usage: python bench/seed_calibration.py [--n 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from emergelab.analysis.verdicts.compare import compare_thresholds
from emergelab.analysis.verdicts.curves import build_curves
from emergelab.analysis.verdicts.emergence import analyze_curves
from emergelab.planted import planted_seeds


def _covers(ci, truth) -> bool:
    lo, hi = ci
    return (lo is None or lo <= truth) and (hi is None or truth <= hi)


def population(rng, n: int) -> None:
    cov, widths, own, hard, ref = [], [], [], [], []
    for _ in range(n):
        spacing, spread = rng.uniform(0.2, 0.45), rng.uniform(0.1, 0.3)
        df, truth = planted_seeds(rng, int(rng.integers(3, 6)), spread, spacing)
        # reference: the same table without its seed column, i.e. the seeds averaged as if they
        # were re-evaluations of one model (their binomial n summed)
        (r0,) = analyze_curves(build_curves(df.drop(columns="seed"), "params_nonembed"))
        ref.append(r0["threshold_ci"] is not None
                   and _covers(r0["threshold_ci"], truth["threshold"]))
        (r,) = analyze_curves(build_curves(df, "params_nonembed"))
        cov.append(r["threshold_ci"] is not None and _covers(r["threshold_ci"], truth["threshold"]))
        lo, hi = r["threshold_ci"] or (None, None)
        if lo and hi:
            widths.append(np.log10(hi / lo) / spacing)
        own += [_covers(s["threshold_ci"], truth["seed_thresholds"][s["seed"]])
                for s in r["seed_thresholds"] or []]
        hard.append(r["emergence"] == "hard")
    print(f"population threshold, 3-5 seeds ({n} recipes): 95% interval covers "
          f"{np.mean(cov):.3f}, median width {np.median(widths):.2f} spacings; each seed's own "
          f"interval covers {np.mean(own):.3f}; called hard {np.mean(hard):.3f}")
    print(f"  reference, seeds averaged as re-evaluations of one model: covers {np.mean(ref):.3f}")


def pairs(rng, n: int, seeds: int) -> None:
    for shift in (0.0, 0.6):
        sig, cov, none, ref = [], [], [], []
        for _ in range(n):
            spacing, spread = rng.uniform(0.2, 0.45), rng.uniform(0.1, 0.3)
            t0 = rng.uniform(7.2, 8.8 - shift)
            offset = rng.uniform(0, spacing)
            levels = (rng.uniform(0.0, 0.25), rng.uniform(0.6, 0.95))
            a, _ = planted_seeds(rng, seeds, spread, spacing, t0=t0, offset=offset, task="t",
                                 levels=levels)
            b, _ = planted_seeds(rng, seeds, spread, spacing, t0=t0 + shift, task="t",
                                 offset=(offset + spacing / 2) % spacing, levels=levels)
            if seeds > 1:  # reference: seeds averaged, evaluation noise only
                ra, rb = (build_curves(t.drop(columns="seed"), "params_nonembed") for t in (a, b))
                analyze_curves(ra)
                analyze_curves(rb)
                ref.append(bool(compare_thresholds(ra, rb, seed_spread=0.0)[0]["significant"]))
            ca, cb = build_curves(a, "params_nonembed"), build_curves(b, "params_nonembed")
            analyze_curves(ca)
            analyze_curves(cb)
            (row,) = compare_thresholds(ca, cb)
            if seeds == 1:
                none.append(row["significant"] is None)
                (row,) = compare_thresholds(ca, cb, seed_spread=spread)
            sig.append(bool(row["significant"]))
            cov.append(_covers(row["shift_ci"], shift))
        extra = (f"; without --seed-spread significant is None in {np.mean(none):.3f}"
                 if seeds == 1 else f" (reference, seeds averaged: {np.mean(ref):.3f})")
        given = " (--seed-spread = planted)" if seeds == 1 else ""
        print(f"compare, {seeds} seed(s) per side{given}, shift {shift}: significant "
              f"{np.mean(sig):.3f}, interval covers {np.mean(cov):.3f}{extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="planted recipes (pairs) per line")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t = time.time()
    population(rng, args.n)
    pairs(rng, args.n, 3)
    pairs(rng, args.n, 1)
    print(f"({time.time() - t:.0f} s)")


if __name__ == "__main__":
    main()
