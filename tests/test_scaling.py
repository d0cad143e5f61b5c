"""Scaling-law fits against published values, planted parameters and closed forms."""

import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import rosen, rosen_der, rosen_hess

from emergelab.analysis.laws import chinchilla
from emergelab.analysis.laws.chinchilla import HuberLSE, fit_chinchilla
from emergelab.analysis.laws.lbfgs import minimize_batch
from emergelab.analysis.laws.newton import newton_batch
from emergelab.analysis.laws.planner import loss_at, optimal_allocation, plan
from emergelab.analysis.laws.power_laws import bnsl_predict, fit_bnsl, fit_kaplan
from emergelab.errors import UserError

# Epoch AI's 95% intervals (Besiroglu et al. 2024, Table 1) for the 240 non-outlier points
EPOCH_CI = {"E": (1.769, 1.871), "A": (285, 744), "B": (1042, 5810),
            "alpha": (0.317, 0.373), "beta": (0.331, 0.415)}


@pytest.fixture(scope="module")
def chinchilla_points():
    from .conftest import DATASETS

    df = pd.read_csv(DATASETS / "chinchilla_points.csv")
    return df[df.epoch_excluded_outlier == 0]


@pytest.fixture(scope="module")
def published_fit(chinchilla_points):
    df = chinchilla_points
    return fit_chinchilla(df.params, df.tokens, df.loss, bootstrap=400, seed=1)


def test_fit_lands_inside_epochs_intervals(published_fit):
    for name, (lo, hi) in EPOCH_CI.items():
        assert lo <= published_fit.params[name] <= hi, name


def test_bootstrap_spread_matches_epochs_standard_errors(published_fit):
    # Epoch's bootstrap SEs over 4,000 resamples: E 0.026, alpha 0.015, beta 0.021 (A and B are
    # heavy-tailed; their SEs are not compared)
    sd = published_fit.bootstrap.std(0)
    for i, se in ((0, 0.026), (3, 0.015), (4, 0.021)):
        assert se / 1.5 < sd[i] < se * 1.5


def test_compute_optimal_tokens_per_parameter_at_chinchilla_budget(published_fit):
    n, d, _ = optimal_allocation(5.88e23, *(published_fit.params[k] for k in
                                            ("E", "A", "B", "alpha", "beta")))
    assert 16 <= d / n <= 21


def test_shipped_default_fit_is_a_fresh_fit_of_the_points(chinchilla_points):
    shipped = json.loads(resources.files("emergelab").joinpath(
        "analysis/laws/chinchilla_default_fit.json").read_text())
    df = chinchilla_points
    fresh = fit_chinchilla(df.params, df.tokens, df.loss)
    for k, v in fresh.params.items():
        assert shipped["params"][k] == pytest.approx(v, rel=1e-4)
    assert len(shipped["bootstrap"]["E"]) == 4000


def test_planted_parameters_are_recovered():
    rng = np.random.default_rng(7)
    truth = {"E": 1.7, "A": 400.0, "B": 1500.0, "alpha": 0.34, "beta": 0.30}
    N = 10 ** rng.uniform(7, 10, 200)
    D = 10 ** rng.uniform(9, 12, 200)
    L = loss_at(N, D, *truth.values()) * np.exp(rng.normal(0, 0.005, 200))
    fit = fit_chinchilla(N, D, L)
    assert fit.params["E"] == pytest.approx(truth["E"], rel=0.03)
    assert fit.params["alpha"] == pytest.approx(truth["alpha"], abs=0.03)
    assert fit.params["beta"] == pytest.approx(truth["beta"], abs=0.03)
    # A and B trade off against the exponents; the law itself must be recovered closely
    Ng, Dg = np.meshgrid(10 ** np.linspace(7, 10, 7), 10 ** np.linspace(9, 12, 7))
    pred = fit.predict(Ng, Dg)
    assert np.max(np.abs(pred / loss_at(Ng, Dg, *truth.values()) - 1)) < 0.01


def test_noise_free_law_is_fitted_exactly():
    N = np.repeat(10 ** np.linspace(7, 10, 8), 8)
    D = np.tile(10 ** np.linspace(9, 12, 8), 8)
    truth = (1.8, 480.0, 2000.0, 0.35, 0.37)
    fit = fit_chinchilla(N, D, loss_at(N, D, *truth))
    for got, want in zip(fit.params.values(), truth):
        assert got == pytest.approx(want, rel=1e-3)


def test_planner_closed_form_matches_brute_force():
    p = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}
    for C in (1e18, 5.88e23, 1e26):
        n, d, loss = optimal_allocation(C, *p.values())
        grid = np.logspace(np.log10(n) - 2, np.log10(n) + 2, 400_001)
        losses = loss_at(grid, C / (6 * grid), *p.values())
        assert grid[losses.argmin()] == pytest.approx(n, rel=1e-4)
        assert losses.min() == pytest.approx(loss, rel=1e-9)
        assert 6 * n * d == pytest.approx(C)


def test_plan_tradeoff_is_worse_away_from_the_optimum():
    p = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}
    out = plan(1e22, p)
    deltas = [r["loss_vs_optimal"] for r in out.tradeoff]
    assert min(deltas) == 0.0 and all(d >= 0 for d in deltas)


def test_batched_lbfgs_solves_rosenbrock_from_many_starts():
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-2, 2, size=(64, 4))

    def fun(x, idx):
        return np.array([rosen(r) for r in x]), np.array([rosen_der(r) for r in x])

    res = minimize_batch(fun, x0, max_iter=2000, gtol=1e-10, ftol=0)
    ok = np.abs(res.x - 1).max(1) < 1e-5
    # Rosenbrock in 4-D also has a local minimum near (-1, 1, 1, 1); every start must end in one
    other = np.abs(res.x - np.array([-0.7757, 0.6132, 0.3820, 0.1459])).max(1) < 1e-3
    assert (ok | other).all() and ok.sum() > 40


def test_batched_newton_solves_rosenbrock_from_many_starts():
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-2, 2, size=(64, 4))

    def fun(x, idx):
        return (np.array([rosen(r) for r in x]), np.array([rosen_der(r) for r in x]),
                np.array([rosen_hess(r) for r in x]))

    res = newton_batch(fun, x0, max_iter=500, gtol=1e-10, ftol=0)
    ok = np.abs(res.x - 1).max(1) < 1e-6
    other = np.abs(res.x - np.array([-0.7757, 0.6132, 0.3820, 0.1459])).max(1) < 1e-3
    assert (ok | other).all() and ok.sum() > 40


def test_huber_lse_hessian_matches_finite_differences(chinchilla_points):
    df = chinchilla_points
    rng = np.random.default_rng(0)
    weights = rng.integers(0, 3, size=(3, len(df))).astype(float)
    theta = np.array([[6.2, 7.6, 0.6, 0.35, 0.37], [5.0, 5.0, 0.5, 0.3, 0.3],
                      [6.0, 7.0, 0.55, 0.34, 0.33]])
    for obj in (HuberLSE(df.params, df.tokens, df.loss),
                HuberLSE(df.params, df.tokens, df.loss, weights=weights)):
        _, _, H = obj.with_hessian(theta, np.arange(3))
        eps, numeric = 1e-6, np.zeros_like(H)
        for j in range(5):
            step = np.zeros(5)
            step[j] = eps
            numeric[:, :, j] = (obj(theta + step, np.arange(3))[1]
                                - obj(theta - step, np.arange(3))[1]) / (2 * eps)
        assert np.abs(H - numeric).max() < 1e-6 * np.abs(H).max()


def test_huber_lse_in_blocks_and_threads_equals_one_problem_at_a_time(chinchilla_points):
    """Many problems are split into blocks evaluated on several threads, each with its own
    buffers; every problem must get exactly what it gets alone (its own weights, its own theta),
    and float32 (the coarse ranking) must agree with float64 to its precision."""
    df = chinchilla_points
    rng = np.random.default_rng(1)
    K = 2 * chinchilla.BLOCK + 7
    weights = rng.multinomial(len(df), np.full(len(df), 1 / len(df)), size=K).astype(float)
    theta = np.array([6.2, 7.6, 0.6, 0.35, 0.37]) + rng.normal(0, 0.05, (K, 5))
    idx = rng.permutation(K)
    obj = HuberLSE(df.params, df.tokens, df.loss, weights=weights)
    f, g, H = obj.with_hessian(theta, idx)
    for k in rng.choice(K, 12, replace=False):
        fk, gk, Hk = obj.with_hessian(theta[k:k + 1], idx[k:k + 1])
        # equal up to the summation order a matrix product may choose for one row or many
        for a, b in ((f[k], fk[0]), (g[k], gk[0]), (H[k], Hk[0])):
            assert np.allclose(a, b, rtol=1e-12, atol=1e-15 * np.abs(b).max())
    assert np.array_equal(obj.value(theta, idx), f)
    f32, g32 = HuberLSE(df.params, df.tokens, df.loss, weights=weights, dtype=np.float32)(theta, idx)
    assert f32.dtype == np.float64
    assert np.allclose(f32, f, rtol=1e-3) and np.allclose(g32, g, rtol=1e-2, atol=1e-3 * np.abs(g).max())


def test_kaplan_recovers_planted_power_laws():
    x = np.logspace(6, 10, 12)
    fit = fit_kaplan(x, (8.8e13 / x) ** 0.076)
    assert fit.params["x_c"] == pytest.approx(8.8e13, rel=1e-6)
    assert fit.params["alpha"] == pytest.approx(0.076, rel=1e-6)
    rng = np.random.default_rng(3)
    y = (1.7 + (5e8 / x) ** 0.3) * np.exp(rng.normal(0, 0.002, x.size))
    fit = fit_kaplan(x, y, offset=True, bootstrap=200)
    assert fit.params["E"] == pytest.approx(1.7, rel=0.05)
    assert fit.params["alpha"] == pytest.approx(0.3, rel=0.1)
    lo, hi = fit.ci["alpha"]
    assert lo < 0.3 < hi


def test_bnsl_finds_a_planted_break():
    truth = {"a": 0.05, "b": 3.0, "c0": 0.1, "c1": 0.6, "d1": 1e6, "f1": 0.3}
    x = np.logspace(3, 9, 25)
    fit = fit_bnsl(x, bnsl_predict(truth, x))
    assert np.max(np.abs(bnsl_predict(fit.params, x) / bnsl_predict(truth, x) - 1)) < 0.01
    assert 10**5.5 < fit.params["d1"] < 10**6.5
    assert fit.params["c1"] == pytest.approx(0.6, abs=0.1)


@pytest.mark.parametrize("N,D,L,msg", [
    ([1e8, -1e9, 1e9, 1e9, 1e9, 1e9], [1e10] * 6, [3.0] * 6, "positive"),
    ([1e8] * 6, [1e10] * 6, [3.0, np.nan, 3, 3, 3, 3], "non-finite"),
    ([1e8] * 4, [1e10] * 4, [3.0] * 4, "cannot determine"),
])
def test_bad_points_are_user_errors(N, D, L, msg):
    with pytest.raises(UserError, match=msg):
        fit_chinchilla(N, D, L)
