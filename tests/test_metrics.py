import numpy as np
import pytest

from emergelab.evaluate.intervals import bootstrap_mean_ci, wilson_ci
from emergelab.evaluate.metrics import aggregate, example_metrics, levenshtein


def test_levenshtein_hand_values():
    assert levenshtein(list("kitten"), list("sitting")) == 3
    assert levenshtein([], list("abc")) == 3
    assert levenshtein(list("0579"), list("0579")) == 0
    assert levenshtein(list("0579"), list("579")) == 1


def _reference_levenshtein(a, b) -> int:
    """The textbook dynamic programme (Wagner & Fischer 1974), as the project computed it before."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def test_levenshtein_equals_the_dynamic_programme_on_random_strings():
    rng = np.random.default_rng(5)
    for _ in range(500):
        a = "".join(rng.choice(list("0123#+="), size=rng.integers(0, 12)))
        b = "".join(rng.choice(list("0123#+="), size=rng.integers(0, 12)))
        assert levenshtein(a, b) == _reference_levenshtein(a, b)
        assert levenshtein(list(a), list(b)) == _reference_levenshtein(a, b)


def test_example_metrics_hand_computed():
    m = example_metrics("0589", "0579", "0589", "0579",
                        token_logprobs=[-0.1, -0.2, -2.0, -0.3], token_hits=[True, True, False, True])
    assert m["exact_match"] == 0.0
    assert m["token_edit_distance"] == 1.0
    assert m["token_edit_distance_norm"] == 0.25
    assert m["token_accuracy"] == 0.75
    assert m["target_logprob"] == pytest.approx(-2.6)
    assert m["target_logprob_mean"] == pytest.approx(-0.65)


def test_wilson_interval_known_values():
    # Wilson 95% for 0/10 is [0, 0.2775]; for 5/10 it is [0.2366, 0.7634] (textbook values)
    lo, hi = wilson_ci(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_ci(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))


def test_bootstrap_interval_covers_normal_theory_width():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 1.0, size=400)
    lo, hi = bootstrap_mean_ci(x, n_boot=4000, seed=1)
    se = x.std(ddof=1) / np.sqrt(x.size)
    assert lo < x.mean() < hi
    assert (hi - lo) == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert bootstrap_mean_ci(x, n_boot=500, seed=7) == bootstrap_mean_ci(x, n_boot=500, seed=7)


def test_aggregate_picks_interval_and_direction():
    a = aggregate("exact_match", [1, 0, 1, 1])
    assert a.value == 0.75 and a.higher_is_better and (a.ci_low, a.ci_high) == wilson_ci(3, 4)
    d = aggregate("token_edit_distance", [0, 1, 2, 3])
    assert d.value == 1.5 and not d.higher_is_better and d.ci_low < 1.5 < d.ci_high
