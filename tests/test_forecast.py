"""Forecasts against independent truth: planted curves with known thresholds (the generator's
own parameters), a closed-form logistic, and the published ObsScaling evaluations (the held-out
models' real scores)."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from emergelab.analysis.verdicts.curves import build_curves
from emergelab.analysis.forecasting.forecast import NO_SIGNAL, forecast_curve, mean_abs_error
from emergelab.analysis.forecasting.obs_scaling import impute_pca, observational_forecast
from emergelab.planted import (forecast_planted_power_tokens, planted_power_tokens,
                                        planted_table)
from emergelab.analysis.forecasting.predict_source import predict
from emergelab.errors import UserError

from .conftest import run_cli


def _em(curves):
    return next(c for c in curves if c.metric == "exact_match")


def test_exact_match_threshold_from_sub_threshold_token_accuracy():
    # Schaeffer et al.'s generative story planted: per-token loss a power law in x, exact match
    # p^L; only members whose exact match is still below 0.1 are seen
    rng = np.random.default_rng(11)
    within, covered, n = 0, 0, 60
    for _ in range(n):
        f, truth = forecast_planted_power_tokens(rng)
        if f.threshold is None:
            assert f.status == NO_SIGNAL  # never a guess
            continue
        assert f.signal == "token_accuracy^L"
        within += abs(math.log10(f.threshold / truth["threshold"])) <= 0.3
        lo, hi = f.threshold_ci
        covered += (lo or 0) <= truth["threshold"] <= (hi or math.inf)
    assert within / n >= 0.8
    assert 0.8 <= covered / n <= 0.99  # a 90% interval


def test_flat_curves_get_no_signal_never_a_threshold():
    # a trend test at 3 standard errors: a flat curve's noise passes it rarely (~0.5% measured
    # over 400 in bench/forecast_backtests.py), and even then no threshold is forecast
    rng = np.random.default_rng(5)
    signals = 0
    for _ in range(60):
        em, _ = planted_table("flat", rng)
        tok = em.assign(metric="token_accuracy", n=em["n"] * 5)
        curves = build_curves(pd.concat([em, tok]), "params_nonembed")
        f = forecast_curve(_em(curves), 10**8.5, group=curves, lengths=np.array([5]))
        assert f.threshold is None
        if f.status == NO_SIGNAL:
            assert f.signal is None and "does not move" in f.note
        signals += f.signal is not None
    assert signals <= 2


def test_metric_route_recovers_a_logistic_and_misses_a_hidden_jump():
    # a logistic between the baseline and 1 in log x is the metric route's own form: its held-out
    # points come back to within noise; a jump among the held-out members cannot be foreseen
    x = np.logspace(6, 10, 10)
    t = np.log10(x)
    base = 0.1
    y = base + (1 - base) / (1 + np.exp(-(t - 8.8) * 1.6))
    smooth = pd.DataFrame({"task": "s", "metric": "exact_match", "params": x, "n": 100_000,
                           "value": y, "baseline": base})
    (c,) = build_curves(smooth, "params")
    f = forecast_curve(c, x[7], group=[c])
    assert f.signal == "metric" and mean_abs_error(f) < 0.01
    truth = 10**8.8  # halfway from the baseline to 1: the logistic's midpoint
    assert abs(math.log10(f.threshold / truth)) < 0.05
    hidden = 0.8 / (1 + np.exp(-(t - 9.2) / 0.05))
    jump = smooth.assign(task="j", value=0.1 + 0.02 * (t - 6) + hidden)
    (c,) = build_curves(jump, "params")
    f = forecast_curve(c, x[7], group=[c])
    assert mean_abs_error(f) > 0.5


def test_forecast_intervals_contain_held_out_points_at_their_level():
    rng = np.random.default_rng(3)
    inside = total = 0
    for _ in range(30):
        df, truth = planted_power_tokens(rng)
        curves = build_curves(df, "params_nonembed")
        f = forecast_curve(_em(curves), truth["x"][6], group=curves, lengths=np.array([truth["L"]]))
        for p in f.points if f.status == "forecast" else []:
            em_true = truth["em"][np.argmin(abs(truth["x"] - p.x))]
            total += 1
            inside += p.interval[0] - 0.02 <= em_true <= p.interval[1] + 0.02
    assert total > 60 and inside / total >= 0.8


def test_regularized_pca_imputation_recovers_a_low_rank_table():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3)) @ rng.normal(size=(3, 8)) + 0.01 * rng.normal(size=(120, 8))
    holes = rng.random(X.shape) < 0.1
    filled = impute_pca(np.where(holes, np.nan, X), k=3)
    assert np.abs(filled[holes] - X[holes]).max() < 0.1
    assert np.array_equal(filled[~holes], X[~holes])


@pytest.fixture
def obs(shared_data):
    d = shared_data / "obs_scaling"
    return d / "base_llm_benchmark_eval.csv", d / "base_llm_emergent_capability_eval.csv"


def test_observational_scaling_beats_log_flops_on_the_papers_split(obs):
    r = observational_forecast(*obs, 8.4e22)
    accuracy = [t for t in r.mae if r.scaled[t] == 1.0]  # BLEU (0-100) aside
    assert len(accuracy) == 7
    ours = np.mean([r.mae[t] for t in accuracy])
    ref = np.mean([r.mae_logflops[t] for t in accuracy])
    assert ours <= 0.10 and ours < ref
    assert r.explained[0] > 0.7 and sum(r.explained) > 0.9
    held = {f.model for f in r.forecasts}
    assert "meta-llama/Llama-2-7b-hf" in held  # at the cutoff: forecast, not fitted
    assert all(f.flops >= 8.4e22 for f in r.forecasts)


def test_predict_obs_cli_json_and_errors(obs, tmp_path):
    proc = run_cli("obs-scaling", *obs, "--train-below", "8.4e22", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert {"model", "task", "predicted", "observed"} <= set(rows[0])
    assert "arithmetic_2dm_2_acc" in {r["task"] for r in rows}
    bad = tmp_path / "bad.csv"
    bad.write_text("Model,MMLU\nx,0.5\n")
    proc = run_cli("obs-scaling", bad, obs[1], "--train-below", "1e22")
    assert proc.returncode == 2 and proc.stderr.startswith("error: "), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    with pytest.raises(UserError, match="leaves"):  # too few models below the cutoff
        observational_forecast(*obs, 1e20)


def test_predict_cli_on_a_table(tmp_path):
    df, truth = planted_table("gradual", np.random.default_rng(2))
    path = tmp_path / "gradual.csv"
    df.to_csv(path, index=False)
    cut = float(np.sort(df["params_nonembed"])[6])
    proc = run_cli("predict", path, "--train-below", cut, "--at", "1e11", "--json",
                   "--plot", tmp_path / "plots")
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    keys = {"task", "variant", "metric", "threshold", "threshold_ci", "points", "signal"}
    assert keys <= set(row)
    assert row["signal"] == "metric"
    held = [p for p in row["points"] if p["observed"] is not None]
    assert len(held) == 4 and all(p["x"] >= cut for p in held)
    assert any(p["x"] == 1e11 and p["observed"] is None for p in row["points"])
    assert list((tmp_path / "plots").glob("forecast_*.png"))
    proc = run_cli("predict", path, "--at", "ten")
    assert proc.returncode == 2 and proc.stderr.startswith("error: "), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    # the same errors from the library, as one-line UserErrors before any fit
    for kwargs, msg in (({"train_below": 1e6}, "fewer than 3"), ({"x": "nope"}, "nope"),
                        ({"signal": "magic"}, "unknown signal"), ({"at": [0.0]}, "positive")):
        with pytest.raises(UserError, match=msg):
            predict(path, **kwargs)
    rows = predict(path).forecasts  # no cutoff: one decade past the ladder
    assert rows[0].signal == "metric" and rows[0].points[0].x == pytest.approx(1e11)


def _pass_table(rng, slope, t_star, level=0.5, se=0.08):
    """Planted high-resolution evaluation: log10 of the mean sampled pass probability a line in
    log10 x with the given slope, reaching `level` at t_star (0 slope: flat at 1e-4); exact match
    at chance (0) below the threshold, as greedy scores are."""
    t = np.arange(6.0, 9.01, 0.25)
    logp = np.log10(level) + slope * (t - t_star) if slope else np.full(len(t), -4.0)
    logp = np.minimum(logp, 0) + rng.normal(0, se, len(t))
    em = np.where(t < t_star, 0.0, 0.9)
    rows = [{"family": "f", "task": "add", "variant": "plain", "params_nonembed": 10**ti,
             "metric": "exact_match", "value": e, "n": 200, "baseline": 0.0}
            for ti, e in zip(t, em)]
    rows += [{"family": "f", "task": "add", "variant": "plain", "params_nonembed": 10**ti,
              "metric": "log_pass_prob", "value": v, "ci_low": v - 1.96 * se,
              "ci_high": v + 1.96 * se, "n": 200} for ti, v in zip(t, logp)]
    return build_curves(pd.DataFrame(rows), "params_nonembed")


def test_exact_match_threshold_from_the_sampled_pass_probability():
    # the greedy score sits at chance below the threshold; the sampled pass probability climbs
    # as a planted power law in x and reaches the halfway level at a known size
    rng = np.random.default_rng(3)
    within, covered, n = 0, 0, 60
    for _ in range(n):
        t_star, slope = rng.uniform(7.8, 8.6), rng.uniform(0.8, 2.0)
        curves = _pass_table(rng, slope, t_star)
        f = forecast_curve(_em(curves), 10 ** (t_star - 0.6), group=curves)
        assert f.signal == "pass_prob", f.note
        within += abs(math.log10(f.threshold) - t_star) <= 0.3
        lo, hi = f.threshold_ci
        covered += (lo or 0) <= 10**t_star <= (hi or math.inf)
    assert within / n >= 0.8
    assert covered / n >= 0.85


def test_a_flat_pass_probability_gives_no_threshold():
    rng = np.random.default_rng(4)
    for _ in range(30):
        curves = _pass_table(rng, 0.0, 8.5)
        f = forecast_curve(_em(curves), 10**8.0, group=curves)
        assert f.threshold is None
