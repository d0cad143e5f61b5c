"""High-resolution evaluation: answers sampled until correct, against known pass probabilities."""

import math

import numpy as np
import pytest
import torch

from emergelab.data.tokenizer import CharTokenizer
from emergelab.evaluate.pass_until import PassUntil, rounds, sample_until_correct
from emergelab.evaluate.scoring import CharScorer
from emergelab.tasks import build_task

from .conftest import run_cli


def test_rounds_double_and_stop_at_the_budget():
    assert rounds(1) == [1]
    assert rounds(8) == [1, 1, 2, 4]
    assert rounds(10) == [1, 1, 2, 4, 2]
    assert all(sum(rounds(b)) == b for b in range(1, 300))


def _planted(ps, budget, rng):
    """Answers drawn until the second success (two geometric waits), censored at the budget."""
    g1, g2 = rng.geometric(ps), rng.geometric(ps)
    done = g1 + g2 <= budget
    return PassUntil(np.where(done, g1 + g2, budget),
                     np.where(done, 2, (g1 <= budget).astype(int)), budget)


@pytest.mark.parametrize("a,b", [(0.5, 5000), (0.5, 500), (1, 99), (0.5, 0.5)])
def test_interval_covers_the_mean_of_planted_pass_probabilities(a, b):
    # 100 examples whose pass probabilities differ (Beta(a, b): means 1e-4 ... 0.5), budget 256
    rng = np.random.default_rng(7)
    covered, errors = 0, []
    for trial in range(200):
        ps = rng.beta(a, b, size=100)
        value, lo, hi = _planted(ps, 256, rng).estimate(0.95, seed=trial)
        truth = math.log10(ps.mean())
        if not math.isnan(value):
            errors.append(value - truth)
        covered += (math.isnan(lo) or lo <= truth) and truth <= hi
    assert covered / 200 >= 0.85
    assert abs(np.median(errors)) < 0.1  # unbiased per example: no offset in the log either


class _DigitThenEnd(torch.nn.Module):
    """A model whose first answer token is a uniform digit and whose second is the end token:
    an example with a one-digit answer is passed with probability exactly 1/10."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.cfg = type("cfg", (), {"block_size": 64})()
        tok = CharTokenizer()
        self.digits = torch.full((tok.vocab_size,), -1e9)
        self.digits[[tok.stoi[str(d)] for d in range(10)]] = 0.0
        self.end = torch.full((tok.vocab_size,), -1e9)
        self.end[tok.eos_id] = 0.0

    def new_cache(self):
        return {"calls": 0}

    def decode(self, idx, mask, cache):
        cache["calls"] += 1
        row = self.digits if cache["calls"] == 1 else self.end
        return row.expand(idx.shape[0], -1).clone()


def test_sampler_recovers_an_exact_pass_probability():
    task = build_task("add1")
    # the held-out items with a one-digit answer, each asked six times (each time sampled anew)
    examples = [e for e in task.eval_set(200, 0) if len(e.answer) == 1] * 6
    scorer = CharScorer(_DigitThenEnd())
    covered, estimates = 0, []
    for seed in range(10):
        pu = sample_until_correct(scorer, task, examples, 64, seed)
        value, lo, hi = pu.estimate(0.95, seed=seed)
        covered += lo <= -1.0 <= hi
        estimates.append(10**value)
    assert covered >= 8
    assert np.mean(estimates) == pytest.approx(0.1, rel=0.15)
    # the same seed draws the same answers
    a = sample_until_correct(scorer, task, examples, 64, 3)
    b = sample_until_correct(scorer, task, examples, 64, 3)
    assert (a.draws == b.draws).all() and (a.hits == b.hits).all()


def test_nothing_solved_has_no_value_but_an_upper_bound():
    pu = PassUntil(np.full(50, 100), np.zeros(50, int), 100)
    value, lo, hi = pu.estimate(0.95)
    assert math.isnan(value) and math.isnan(lo)
    assert 10**hi < 1e-3  # 5,000 failed answers: p is below about 4e-4


RUN = """
name = "sampled"
seed = 0
[ladder]
d_models = [8, 16]
[train]
steps = 24
batch_size = 32
warmup_steps = 4
checkpoints = 2
[[tasks]]
name = "add1"
n_eval = 20
pass_until = 16
"""


def test_a_run_that_asks_reports_log_pass_prob_and_analyze_reads_it(tmp_path):
    (tmp_path / "c.toml").write_text(RUN)
    proc = run_cli("run", "--config", tmp_path / "c.toml", "--out", tmp_path / "r", "--quiet")
    assert proc.returncode == 0, proc.stderr
    from emergelab.store import read_results

    res = read_results(tmp_path / "r")
    rows = res[res["metric"] == "log_pass_prob"]
    assert len(rows) == len(res[res["metric"] == "exact_match"])  # every checkpoint
    finite = rows[rows["value"].notna()]
    assert ((finite["value"] <= finite["ci_high"]) & (finite["ci_high"] <= 0)).all()
    assert (rows["n"] == 20).all()


@pytest.mark.parametrize("extra,needle", [("pass_until = 0\n", "pass_until"),
                                          ("pass_until = 'x'\n", "pass_until")])
def test_bad_budget_is_one_line(tmp_path, extra, needle):
    (tmp_path / "c.toml").write_text(RUN.replace("pass_until = 16\n", extra))
    proc = run_cli("run", "--config", tmp_path / "c.toml", "--out", tmp_path / "r")
    assert proc.returncode == 2
    assert needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_the_example_config_is_the_demo_with_pass_until():
    from pathlib import Path

    from emergelab.config import load_config, load_preset

    example = load_config(Path(__file__).resolve().parents[1] / "examples" / "pass_until.toml")
    quick = load_preset("quick")
    assert example.ladder == quick.ladder and example.train == quick.train
    assert example.eval == quick.eval and example.seed == quick.seed
    assert [t.pass_until for t in example.tasks] == [128, None, None]
    assert [t.model_copy(update={"pass_until": None}) for t in example.tasks] == quick.tasks
