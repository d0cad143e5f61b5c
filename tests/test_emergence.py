"""The classifier against planted truth, closed forms and published data."""

import numpy as np
import pandas as pd
import pytest

from emergelab.analysis.emergence import (analyze_curves, breakthroughness, build_curves,
                                          linearity)
from emergelab.analysis.planted import planted_table

N_PER_KIND = 60


@pytest.fixture(scope="module")
def planted_results():
    rng = np.random.default_rng(2024)
    out = {}
    for kind in ("jump", "smooth", "flat", "inverse", "u_shaped", "mirage", "true_jump"):
        rows = []
        for _ in range(N_PER_KIND):
            df, truth = planted_table(kind, rng)
            res = analyze_curves(build_curves(df, "params_nonembed"))
            rows.append((truth, {r["metric"]: r for r in res}))
        out[kind] = rows
    return out


def _rate(rows, cls, metric="exact_match"):
    return np.mean([r[metric]["classification"] == cls for _, r in rows])


def test_planted_jumps_are_emergent_with_accurate_thresholds(planted_results):
    rows = planted_results["jump"]
    assert _rate(rows, "emergent") >= 0.95
    errs = [abs(np.log10(r["exact_match"]["threshold"]) - np.log10(t["threshold"]))
            for t, r in rows if r["exact_match"]["classification"] == "emergent"]
    assert max(errs) <= 0.25
    covered = [r["exact_match"]["threshold_ci"][0] <= t["threshold"] * 10**0.25
               and r["exact_match"]["threshold_ci"][1] >= t["threshold"] / 10**0.25
               for t, r in rows if r["exact_match"]["threshold_ci"]]
    assert np.mean(covered) >= 0.9


def test_smooth_and_flat_are_rarely_called_emergent(planted_results):
    assert _rate(planted_results["smooth"], "emergent") <= 0.05
    assert _rate(planted_results["flat"], "emergent") <= 0.05
    assert _rate(planted_results["smooth"], "smooth") >= 0.9
    assert _rate(planted_results["flat"], "flat") >= 0.9


def test_inverse_and_u_shaped_are_named(planted_results):
    assert _rate(planted_results["inverse"], "inverse") >= 0.8
    assert _rate(planted_results["u_shaped"], "u_shaped") >= 0.8


def test_mirage_is_metric_induced_but_true_jumps_are_not(planted_results):
    assert _rate(planted_results["mirage"], "metric_induced") >= 0.8
    assert _rate(planted_results["mirage"], "smooth", "token_accuracy") >= 0.9
    assert _rate(planted_results["true_jump"], "metric_induced") <= 0.1
    assert _rate(planted_results["true_jump"], "emergent") >= 0.8


def test_bigbench_scores_closed_forms():
    assert linearity(np.array([0.0, 1.0, 2.0, 3.0])) == pytest.approx(1.0)
    assert linearity(np.array([3.0, 2.0, 1.0])) == pytest.approx(-1.0)
    # steps 0, 0, 0.9, 0: root-median-square step is 0 -> undefined; 0.1, 0.1, 0.7, 0.1 -> 0.1
    assert np.isnan(breakthroughness(np.array([0.0, 0.0, 0.0, 0.9, 0.9])))
    y = np.array([0.0, 0.1, 0.2, 0.9, 1.0])
    assert breakthroughness(y) == pytest.approx(1.0 / 0.1)
    assert linearity(y) == pytest.approx(0.25 / np.sqrt((0.01 * 3 + 0.49) / 4))


def test_backtest_measures_predictability():
    # a log-linear rise is predicted from its smaller members; a jump planted among the three
    # held-out largest members is not
    x = np.logspace(6, 10, 10)
    t = np.log10(x)
    smooth = pd.DataFrame({"task": "s", "metric": "exact_match", "params": x, "n": 400,
                           "value": 0.1 + 0.8 * (t - 6) / 4})
    jump = pd.DataFrame({"task": "j", "metric": "exact_match", "params": x, "n": 400,
                         "value": 0.05 + 0.85 / (1 + np.exp(-(t - 9.2) / 0.05))})
    s_err = analyze_curves(build_curves(smooth, "params"), backtest_k=3)[0]["backtest_error"]
    j_err = analyze_curves(build_curves(jump, "params"), backtest_k=3)[0]["backtest_error"]
    assert s_err == pytest.approx(0.0, abs=1e-9)
    assert j_err > 0.5


def test_last_checkpoint_per_model_and_nonpositive_x():
    df = pd.DataFrame({"model_id": ["a", "a", "b", "c", "d", "e"],
                       "step": [10, 20, 20, 20, 20, 20], "params": [1e6, 1e6, 1e7, 1e8, 1e9, 0],
                       "task": "t", "metric": "acc", "value": [0.9, 0.1, 0.2, 0.3, 0.4, 0.5]})
    (curve,) = build_curves(df, "params")
    assert list(curve.x) == [1e6, 1e7, 1e8, 1e9]  # x = 0 dropped, model a at its last step
    assert curve.y[0] == 0.1


def test_pythia_sizes_classify_as_the_readme_describes(shared_data):
    df = pd.read_csv(shared_data / "pythia_evals.csv")
    df = df[(df.family == "pythia") & (df.shots == 0)].rename(columns={"model": "model_id"})
    res = {(r["task"], r["metric"]): r for r in
           analyze_curves(build_curves(df, "params_nonembed"))}
    for task in ("lambada_openai", "arc_easy", "sciq", "piqa"):
        assert res[(task, "acc")]["classification"] == "smooth", task
    for task in ("logiqa", "wsc"):
        assert res[(task, "acc")]["classification"] == "flat", task


def test_pythia_lambada_accuracy_emerges_over_training(shared_data):
    df = pd.read_csv(shared_data / "pythia_evals.csv")
    df = df[(df.model == "pythia-12b") & (df.shots == 0) & (df.task == "lambada_openai")]
    (acc,) = [r for r in analyze_curves(build_curves(df, "step")) if r["metric"] == "acc"]
    assert acc["classification"] == "emergent"
    assert 512 < acc["threshold"] < 13000  # <= 0.0004 up to step 512, 0.12-0.35 by 3000


def test_threshold_interval_from_examples_matches_binomial_theory():
    # the same planted jump, once summarised (binomial n) and once with its per-example scores:
    # resampling examples and the binomial parametric bootstrap must agree on the interval
    rng = np.random.default_rng(11)
    df, truth = planted_table("jump", rng, n=400)
    per_example = []
    for r in df.itertuples():
        k = int(round(r.value * r.n))
        per_example += [{"task": r.task, "metric": r.metric, "params_nonembed": r.params_nonembed,
                         "value": float(i < k)} for i in range(r.n)]
    from emergelab.analysis.emergence import attach_examples

    plain = analyze_curves(build_curves(df, "params_nonembed"), seed=3)[0]
    curves = build_curves(df, "params_nonembed")
    assert attach_examples(curves, pd.DataFrame(per_example)) == 1
    boot = analyze_curves(curves, seed=3)[0]
    assert boot["threshold_ci_from"] == "examples" and plain["threshold_ci_from"] == "binomial"
    assert boot["threshold"] == pytest.approx(plain["threshold"])
    w_plain = np.log10(plain["threshold_ci"][1] / plain["threshold_ci"][0])
    w_boot = np.log10(boot["threshold_ci"][1] / boot["threshold_ci"][0])
    assert w_boot == pytest.approx(w_plain, rel=0.35, abs=0.01)


def test_each_family_keeps_its_own_last_checkpoint():
    # a suite trains the same model_id in two experiments for different step counts: each
    # experiment's curve takes that model's last step *in that experiment*
    rows = []
    for family, last in (("short", 800), ("long", 4000)):
        for i, params in enumerate((1e3, 1e4, 1e5, 1e6)):
            for step, value in ((last // 2, 0.0), (last, 0.1 * (i + 1))):
                rows.append({"family": family, "model_id": f"m{i}", "params_nonembed": params,
                             "task": "t", "metric": "exact_match", "step": step, "value": value})
    curves = {c.keys["family"]: c for c in build_curves(pd.DataFrame(rows), "params_nonembed")}
    for family in ("short", "long"):
        assert curves[family].y == pytest.approx([0.1, 0.2, 0.3, 0.4])
