"""Thresholds of a recipe across training seeds: planted truths (analysis/verdicts/seeds.py), compare with
seeds, and the input errors. bench/seed_calibration.py measures the same with more draws."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from emergelab.analysis import analyze
from emergelab.analysis.verdicts.compare import compare_thresholds
from emergelab.analysis.verdicts.curves import build_curves
from emergelab.analysis.verdicts.emergence import analyze_curves
from emergelab.planted import planted_seeds
from emergelab.analysis.verdicts.seeds import effective_seeds, small_sample_cut
from emergelab.errors import UserError


def _covers(ci, truth) -> bool:
    lo, hi = ci
    return (lo is None or lo <= truth) and (hi is None or truth <= hi)


@pytest.fixture(scope="module")
def planted():
    """30 planted recipes: 3-5 seeds, seed spread 0.1-0.3 decade, spacing 0.2-0.45 decade."""
    rng = np.random.default_rng(2026)
    out = []
    for _ in range(30):
        spacing, spread = rng.uniform(0.2, 0.45), rng.uniform(0.1, 0.3)
        df, truth = planted_seeds(rng, int(rng.integers(3, 6)), spread, spacing)
        (r,) = analyze_curves(build_curves(df, "params_nonembed"))
        out.append((r, truth, spacing))
    return out


def test_population_interval_covers_the_planted_population_threshold(planted):
    # evaluation noise alone (seeds averaged as re-evaluations of one model) covered 27%
    cov = [_covers(r["threshold_ci"], t["threshold"]) for r, t, _ in planted]
    widths = [np.log10(r["threshold_ci"][1] / r["threshold_ci"][0]) / sp
              for r, _, sp in planted if None not in r["threshold_ci"]]
    assert np.mean(cov) >= 0.85
    assert np.median(widths) <= 2.0
    assert all(r["seed_variance"] == "measured" and r["threshold_ci_kind"] == "seeds"
               for r, _, _ in planted)


def test_each_seed_interval_covers_that_seeds_threshold(planted):
    own = [_covers(s["threshold_ci"], t["seed_thresholds"][s["seed"]])
           for r, t, _ in planted for s in r["seed_thresholds"]]
    assert np.mean(own) >= 0.90


def test_sharp_seeds_at_different_sizes_are_hard_emergence(planted):
    # each seed jumps within 0.1-0.3 decade; their mean curve is wider, the verdict is not
    assert np.mean([r["emergence"] == "hard" for r, _, _ in planted]) >= 0.90
    assert all(r["seed_width_decades"] <= 0.5 for r, _, _ in planted if r["emergence"] == "hard")


def test_spread_and_emergence_probability_follow_the_planted_seeds(planted):
    for r, truth, _ in planted:
        own = np.log10(list(truth["seed_thresholds"].values()))
        lo_t, hi_t = own.min(), own.max()
        for p in r["emergence_probability"]:
            t = np.log10(p["x"])
            # far below every seed's jump no seed has it, far above every seed has it
            if t < lo_t - 0.4:
                assert p["share"] == 0.0
            if t > hi_t + 0.4:
                assert p["share"] == 1.0
            assert p["ci"][0] <= p["share"] <= p["ci"][1]
    est = [r["seed_spread_decades"] for r, _, _ in planted]
    true = [np.std(np.log10(list(t["seed_thresholds"].values())), ddof=1) for _, t, _ in planted]
    assert np.corrcoef(est, true)[0, 1] > 0.5


def test_small_sample_cut_is_the_t_interval_for_exact_crossings():
    # with sigma integrated out, the cut reproduces Student's interval: k = 3 seeds at 95%
    # (t_2 = 4.303): 2 log(1 + 4.303^2 / 2) = 4.65; and tends to chi2_1's 3.84 with many seeds
    assert small_sample_cut(3, 0.95) == pytest.approx(2 * np.log1p(4.3027**2 / 2), rel=1e-4)
    assert small_sample_cut(400, 0.95) == pytest.approx(3.84, abs=0.03)


def _gaussian_profiles(centres, sd, grid):
    out = np.full((len(centres), len(grid) + 2), 1e6)
    for i, c in enumerate(centres):
        out[i, 1:-1] = ((grid - c) / sd) ** 2
    return out


def test_effective_seeds_counts_what_each_seed_shows_of_the_spread():
    grid = np.linspace(6, 10, 801)
    a, b = [7.8, 8.0, 8.2], [8.1, 8.3, 8.5]  # pooled within-group variance 0.04
    # exact crossings count fully
    sharp = effective_seeds([_gaussian_profiles(a, 0.005, grid), _gaussian_profiles(b, 0.005, grid)], grid)
    assert sharp == pytest.approx(6, abs=0.01)
    # crossings known to +-0.2 (variance 0.04) scatter no more than their own uncertainty:
    # the spread is unmeasured, so the count is its floor, groups + 1
    assert effective_seeds([_gaussian_profiles(a, 0.2, grid), _gaussian_profiles(b, 0.2, grid)], grid) == 3
    # measurement variance 0.01 beside a spread of 0.03: each seed counts 0.03 / 0.04
    mid = effective_seeds([_gaussian_profiles(a, 0.1, grid), _gaussian_profiles(b, 0.1, grid)], grid)
    assert mid == pytest.approx(6 * 0.03 / 0.04, rel=0.02)
    # a seed whose best crossing lies beyond the grid carries no location
    off = _gaussian_profiles(a, 0.005, grid)
    off[0, 1:-1] += 50
    off[0, -1] = 0.0
    assert effective_seeds([off, _gaussian_profiles(b, 0.005, grid)], grid) == pytest.approx(5, abs=0.01)


def test_shift_between_equal_recipes_is_rarely_significant_with_located_or_bracketed_seeds():
    """Equal recipes, 3 seeds each (spread 0.15 decade), each seed's crossing seen through a
    profile: half of them exact, half only to a 0.45-decade bracket on offset ladders. At 95%
    the shift must be called significant in at most ~5% of pairs (binomial slack for 300
    draws: 9%). bench/induction_calibration.py measures it on planted curves."""
    from emergelab.analysis.verdicts.compare import _shift_interval
    from emergelab.analysis.verdicts.seeds import shift_deviance

    rng = np.random.default_rng(7)
    grid = np.linspace(6, 10, 801)
    hits = 0
    for _ in range(300):
        profiles = []
        for offset in (0.0, 0.225):
            ladder = np.arange(6 + offset, 10, 0.45)
            rows = np.full((3, len(grid) + 2), 1e6)
            for i, u in enumerate(8 + rng.normal(0, 0.15, 3)):
                if rng.random() < 0.5:
                    rows[i, 1:-1] = ((grid - u - rng.normal(0, 0.02)) / 0.02) ** 2
                else:
                    j = np.searchsorted(ladder, u)
                    rows[i, 1:-1] = np.where((grid >= ladder[j - 1]) & (grid <= ladder[j]), 0, 50)
            profiles.append(rows)
        lo, hi = _shift_interval(shift_deviance(*profiles, grid, 0.95, None), grid)
        hits += lo > 0 or hi < 0
    assert hits / 300 <= 0.09


def test_one_seed_says_its_interval_is_evaluation_noise_only(planted):
    rng = np.random.default_rng(5)
    df, _ = planted_seeds(rng, 1, 0.2, 0.3)
    (r,) = analyze_curves(build_curves(df, "params_nonembed"))
    assert r["seed_variance"] == "not measured" and r["seed_thresholds"] is None
    assert all(s["count"] == 1 for s in r["seeds"])


def _pair(rng, seeds, shift):
    spacing, spread = rng.uniform(0.2, 0.45), rng.uniform(0.1, 0.3)
    t0, off = rng.uniform(7.2, 8.8 - shift), rng.uniform(0, spacing)
    levels = (rng.uniform(0.0, 0.25), rng.uniform(0.6, 0.95))
    a, _ = planted_seeds(rng, seeds, spread, spacing, t0=t0, offset=off, task="t", levels=levels)
    b, _ = planted_seeds(rng, seeds, spread, spacing, t0=t0 + shift, task="t", levels=levels,
                         offset=(off + spacing / 2) % spacing)
    ca, cb = build_curves(a, "params_nonembed"), build_curves(b, "params_nonembed")
    analyze_curves(ca)
    analyze_curves(cb)
    return ca, cb, spread


def test_compare_with_three_seeds_per_side():
    rng = np.random.default_rng(77)
    same = [compare_thresholds(*_pair(rng, 3, 0.0)[:2])[0] for _ in range(12)]
    moved = [compare_thresholds(*_pair(rng, 3, 0.6)[:2])[0] for _ in range(12)]
    assert np.mean([r["significant"] for r in same]) <= 0.10
    assert np.mean([r["significant"] for r in moved]) >= 0.60
    assert all(r["shift_decades"] > 0 for r in moved if r["significant"])
    assert all(r["seeds_a"] == r["seeds_b"] == "measured" for r in same)


def test_compare_with_one_seed_per_side_needs_the_seed_spread():
    rng = np.random.default_rng(78)
    rows = []
    for _ in range(12):
        ca, cb, spread = _pair(rng, 1, 0.0)
        (plain,) = compare_thresholds(ca, cb)
        assert plain["significant"] is None and "--seed-spread" in plain["note"]
        rows.append(compare_thresholds(ca, cb, seed_spread=spread)[0])
    assert np.mean([r["significant"] for r in rows]) <= 0.10
    with pytest.raises(UserError):
        compare_thresholds(ca, cb, seed_spread=-1.0)


def test_seed_column_must_hold_integers(tmp_path):
    rng = np.random.default_rng(3)
    df, _ = planted_seeds(rng, 3, 0.2, 0.3)
    df["seed"] = df["seed"].astype(str) + "x"
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    with pytest.raises(UserError, match="seed column must hold integers"):
        analyze(path)


@pytest.mark.parametrize("args,needle", [
    (["compare", "A.csv", "A.csv", "--seed-spread", "-1"], "--seed-spread"),
    (["run", "--preset", "micro", "--out", "OUT", "--seeds", "0"], "--seeds"),
    (["analyze", "BAD.csv"], "seed column"),
])
def test_seed_input_errors_are_one_line(tmp_path, args, needle):
    rng = np.random.default_rng(4)
    df, _ = planted_seeds(rng, 3, 0.2, 0.3)
    df.to_csv(tmp_path / "A.csv", index=False)
    df.assign(seed=1.5).to_csv(tmp_path / "BAD.csv", index=False)
    args = [str(tmp_path / a) if a in ("A.csv", "BAD.csv", "OUT") else a for a in args]
    p = subprocess.run([sys.executable, "-m", "emergelab", *args], capture_output=True, text=True)
    assert p.returncode == 2, p.stderr
    assert needle in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "OUT").exists()


def test_analyze_json_carries_the_seed_fields(tmp_path):
    rng = np.random.default_rng(6)
    df, _ = planted_seeds(rng, 3, 0.2, 0.3)
    df.to_csv(tmp_path / "s.csv", index=False)
    p = subprocess.run([sys.executable, "-m", "emergelab", "analyze", str(tmp_path / "s.csv"),
                        "--json"], capture_output=True, text=True)
    (r,) = json.loads(p.stdout)
    assert r["seed_variance"] == "measured" and len(r["seed_thresholds"]) == 3
    assert {"seeds", "seed_spread_decades", "emergence_probability",
            "seed_verdicts"} <= set(r)
    assert [v["seed"] for v in r["seed_verdicts"]] == [0, 1, 2]
    assert pd.notna(r["seed_spread_decades"])


def test_compare_where_and_a_misspelt_metric(tmp_path):
    rng = np.random.default_rng(9)
    a = pd.concat([planted_seeds(rng, 3, 0.2, 0.3, task=t, t0=8.0, offset=0.1)[0]
                   for t in ("one", "two")])
    a.to_csv(tmp_path / "a.csv", index=False)
    p = subprocess.run([sys.executable, "-m", "emergelab", "compare", str(tmp_path / "a.csv"),
                        str(tmp_path / "a.csv"), "--where", "task = 'two'", "--json"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert [r["task"] for r in json.loads(p.stdout)] == ["two"]
    import os

    p = subprocess.run([sys.executable, "-m", "emergelab", "compare", str(tmp_path / "a.csv"),
                        str(tmp_path / "a.csv")], capture_output=True, text=True,
                       env={**os.environ, "COLUMNS": "80"})
    assert p.returncode == 0, p.stderr
    table = [ln for ln in p.stdout.splitlines() if ln.startswith(("│", "┃"))]
    assert table and "…" not in p.stdout and all(len(ln) <= 80 for ln in table)
    assert "shift B-A [95% CI]" in p.stdout and "seed-to-seed variation: A its own seeds" in p.stdout
    p = subprocess.run([sys.executable, "-m", "emergelab", "compare", str(tmp_path / "a.csv"),
                        str(tmp_path / "a.csv"), "--metric", "exact_mtch"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "did you mean 'exact_match'" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
