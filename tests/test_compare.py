"""compare's threshold shift against planted pairs of runs: calibrated, not just plausible."""

import numpy as np
import pytest

from emergelab.analysis.verdicts.compare import compare_thresholds
from emergelab.analysis.verdicts.curves import build_curves
from emergelab.analysis.verdicts.emergence import analyze_curves
from emergelab.planted import planted_pair

SPACINGS = (0.2, 0.3, 0.4, 0.5, 0.6)
N_PER_SPACING = 16


@pytest.fixture(scope="module")
def pairs():
    """shift -> compare rows of planted pairs (run B's ladder offset by half a spacing, fresh
    binomial noise), over ladder spacings 0.2-0.6 decade."""
    rng = np.random.default_rng(99)
    out = {}
    for shift in (0.0, 0.6):
        rows = []
        for spacing in SPACINGS:
            for _ in range(N_PER_SPACING):
                a, b, _ = planted_pair(rng, shift, spacing)
                ca, cb = build_curves(a, "params_nonembed"), build_curves(b, "params_nonembed")
                analyze_curves(ca)
                analyze_curves(cb)
                (row,) = compare_thresholds(ca, cb, seed_spread=0.0)
                rows.append(row)
        out[shift] = rows
    return out


def _contains(row, shift):
    lo, hi = row["shift_ci"]
    return (lo is None or lo <= shift) and (hi is None or shift <= hi)


def test_same_threshold_is_rarely_called_significant(pairs):
    assert np.mean([r["significant"] for r in pairs[0.0]]) <= 0.05


def test_a_true_shift_of_six_tenths_of_a_decade_is_found(pairs):
    assert np.mean([r["significant"] for r in pairs[0.6]]) >= 0.80
    assert all(r["shift_decades"] > 0 for r in pairs[0.6] if r["significant"])


def test_shift_interval_contains_the_truth(pairs):
    for shift, rows in pairs.items():
        assert np.mean([_contains(r, shift) for r in rows]) >= 0.90


def test_two_flat_curves_have_no_shift():
    rng = np.random.default_rng(5)
    import pandas as pd

    x = 10 ** np.linspace(6, 9, 8)
    tables = [pd.DataFrame({"family": f, "task": "t", "metric": "exact_match",
                            "params_nonembed": x, "value": rng.binomial(200, 0.25, 8) / 200,
                            "n": 200, "baseline": 0.25, "higher_is_better": True})
              for f in ("a", "b")]
    ca, cb = (build_curves(t, "params_nonembed") for t in tables)
    analyze_curves(ca)
    analyze_curves(cb)
    (row,) = compare_thresholds(ca, cb, seed_spread=0.0)
    assert row["shift_decades"] is None and row["significant"] is None
    assert "neither curve rises" in row["note"]
