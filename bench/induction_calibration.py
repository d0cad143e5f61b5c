"""How often a recipe study's class is right, on planted recipes with known truth.

Each planted recipe (analysis/planted.planted_recipe): a base and a recipe of one task, three
training seeds per size (each seed's threshold drawn around the recipe's with an SD of 0.1-0.25
decade), sizes every 0.2-0.4 decade (the recipe's ladder offset by half a spacing), binomial noise
on 200 items, scored in distribution, on fresh items and on a surface format. Truths:
transfers (every set moves by the shift), test_taking (only the in-distribution set moves),
no_effect (nothing moves).

Prints, per truth, the share of each class; for transfers also at a 0.6-decade shift (where the
per-set power of three seeds runs out); and a reference in the same run: no_effect recipes judged
without their seed column (seeds averaged as if they were re-evaluations of one model), the
evaluation-noise-only reading a study without seeds would make.

Usage: python bench/induction_calibration.py [--n 200] [--seed 0] [--only no_effect]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np

from emergelab.analysis.verdicts.curves import build_curves
from emergelab.analysis.verdicts.emergence import analyze_curves
from emergelab.analysis.verdicts.induction import induction_records
from emergelab.planted import planted_recipe


def judge(df, **kw) -> str:
    curves = build_curves(df, "params_nonembed")
    analyze_curves(curves)
    return induction_records(curves, ["recipe"], **kw)[0].class_


def line(rng, truth: str, n: int, shift: float, reference: bool = False) -> None:
    got = Counter()
    for _ in range(n):
        df, _ = planted_recipe(rng, truth, shift=-shift, spread=rng.uniform(0.1, 0.25),
                               spacing=rng.uniform(0.2, 0.4))
        if reference:
            got[judge(df.drop(columns="seed"), seed_spread=0.0)] += 1
        else:
            got[judge(df)] += 1
    shares = ", ".join(f"{k} {v / n:.3f}" for k, v in got.most_common())
    what = " (reference: seeds averaged, evaluation noise only)" if reference else ""
    print(f"truth {truth}, shift {shift if truth != 'no_effect' else 0}{what}: "
          f"correct {got[truth] / n:.3f}; {shares}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="planted recipes per line")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=["transfers", "test_taking", "no_effect"],
                    help="one truth at a one-decade shift, nothing else")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t = time.time()
    if args.only:
        line(rng, args.only, args.n, 1.0)
    else:
        for truth in ("transfers", "test_taking", "no_effect"):
            line(rng, truth, args.n, 1.0)
        line(rng, "transfers", args.n, 0.6)
        line(rng, "no_effect", args.n, 1.0, reference=True)
    print(f"({time.time() - t:.0f} s)")


if __name__ == "__main__":
    main()
