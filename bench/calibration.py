"""How often the analysis is right on planted curves, with more draws than the tests afford.

For every ladder spacing (decades between members, each ladder from a random offset) it plants
curves of known kind with binomial noise and reports:
- threshold intervals on jumps (10-90% width 0.1-0.5 decade): coverage of the planted threshold by
  the nominal 95% interval, its median width in spacings, how often it is the bracket;
- the hard / soft / fake calls on every planted kind;
- compare on pairs of runs (B's ladder offset by half a spacing): how often the same threshold is
  called significantly shifted, how often a 0.6-decade shift is found, and shift-interval coverage.

Usage: python bench/calibration.py [--n 100] [--seed 0]
"""

from __future__ import annotations

import argparse
import collections
import time

import numpy as np

from emergelab.analysis.verdicts.compare import compare_thresholds
from emergelab.analysis.verdicts.curves import build_curves
from emergelab.analysis.verdicts.emergence import analyze_curves
from emergelab.planted import planted_pair, planted_table

SPACINGS = (0.2, 0.3, 0.4, 0.5, 0.6)
KINDS = ("jump", "gradual", "smooth", "flat", "inverse", "u_shaped", "mirage", "true_jump")


def _covers(ci, truth) -> bool:
    lo, hi = ci
    return (lo is None or lo <= truth) and (hi is None or truth <= hi)


def thresholds(rng, n: int) -> None:
    print("threshold intervals on planted jumps (nominal 95%)")
    print(f"{'spacing':>8} {'coverage':>9} {'median width/spacing':>21} {'bracket':>8}")
    pooled = []
    for spacing in SPACINGS:
        cov, widths, bracket = [], [], []
        for _ in range(n):
            df, truth = planted_table("jump", rng, spacing=spacing)
            (r,) = analyze_curves(build_curves(df, "params_nonembed"))
            if r["threshold_ci"] is None:
                cov.append(False)
                continue
            cov.append(_covers(r["threshold_ci"], truth["threshold"]))
            lo, hi = r["threshold_ci"]
            if lo and hi:
                widths.append(np.log10(hi / lo) / spacing)
            bracket.append(r["threshold_ci_kind"] == "bracket")
        pooled += cov
        print(f"{spacing:>8.1f} {np.mean(cov):>9.3f} {np.median(widths):>21.2f} "
              f"{np.mean(bracket):>8.2f}")
    print(f"{'pooled':>8} {np.mean(pooled):>9.3f}")


def kinds(rng, n: int) -> None:
    print("\nemergence calls on planted curves (exact match), over all spacings")
    for kind in KINDS:
        calls = collections.Counter()
        for spacing in SPACINGS:
            for _ in range(n // len(SPACINGS) + 1):
                df, _ = planted_table(kind, rng, spacing=spacing)
                res = {r["metric"]: r for r in analyze_curves(build_curves(df, "params_nonembed"))}
                calls[res["exact_match"]["emergence"]] += 1
        total = sum(calls.values())
        share = ", ".join(f"{k or 'none'} {v / total:.2f}" for k, v in calls.most_common())
        print(f"  {kind:>10}: {share}")


def compare(rng, n: int) -> None:
    print("\ncompare on planted pairs (B's ladder offset by half a spacing)")
    print(f"{'shift':>6} {'spacing':>8} {'significant':>12} {'CI covers':>10}")
    for shift in (0.0, 0.6):
        for spacing in SPACINGS:
            sig, cov = [], []
            for _ in range(n):
                a, b, _ = planted_pair(rng, shift, spacing)
                ca, cb = build_curves(a, "params_nonembed"), build_curves(b, "params_nonembed")
                analyze_curves(ca)
                analyze_curves(cb)
                (row,) = compare_thresholds(ca, cb, seed_spread=0.0)
                sig.append(bool(row["significant"]))
                cov.append(_covers(row["shift_ci"], shift))
            print(f"{shift:>6.1f} {spacing:>8.1f} {np.mean(sig):>12.3f} {np.mean(cov):>10.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="draws per spacing")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    thresholds(rng, args.n)
    kinds(rng, args.n * len(SPACINGS))
    compare(rng, args.n)
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
