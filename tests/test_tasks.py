import random
import re

import pytest

from emergelab.errors import UserError
from emergelab.tasks import EVAL, TRAIN, build_task


def test_add_answers_are_sums_in_both_formats():
    rng = random.Random(1)
    plain, rev = build_task("add", "plain", digits=4), build_task("add", "reversed", digits=4)
    for _ in range(300):
        ex = plain.sample(rng)
        a, b = map(int, re.fullmatch(r"(\d{4})\+(\d{4})=", ex.prompt).groups())
        assert int(ex.target) == a + b and len(ex.target) == 5
        ex_r = rev.sample(random.Random(ex.prompt))
        a, b = map(int, ex_r.prompt[:-1].split("+"))
        assert int(ex_r.target[::-1]) == a + b


def test_add1_and_mul_answers():
    rng = random.Random(2)
    for _ in range(200):
        ex = build_task("add1").sample(rng)
        a, b = int(ex.prompt[0]), int(ex.prompt[2])
        assert ex.target == str(a + b)
        ex = build_task("mul", "plain", digits=3).sample(rng)
        a, b = map(int, ex.prompt[:-1].split("*"))
        assert int(ex.target) == a * b and len(ex.target) == 4


def test_word_problem_answers_follow_the_story():
    rng = random.Random(3)
    task, cot = build_task("word_problem", "direct"), build_task("word_problem", "cot")
    for _ in range(300):
        ex = task.sample(rng)
        n = list(map(int, re.findall(r"\d+", ex.prompt)))
        if "packs of" in ex.prompt:
            truth = n[0] + n[1] * n[2]
        elif "gives away" in ex.prompt:
            truth = n[0] - n[1] + n[2]
        else:
            truth = n[0] * n[1] - n[2]
        assert int(ex.target) == truth and truth >= 0
        ex_c = cot.sample(random.Random(0))
        assert cot.extract_answer(ex_c.target) == ex_c.answer
        assert eval(ex_c.target.split(";")[1].split("=")[0]) == int(ex_c.answer)


@pytest.mark.parametrize("name,variant,opts", [("add1", None, {}), ("add", "reversed", {"digits": 2}),
                                               ("mul", "plain", {}), ("word_problem", "direct", {})])
def test_train_and_eval_splits_are_disjoint(name, variant, opts):
    task = build_task(name, variant, **opts)
    evals = {e.prompt for e in task.eval_set(200, seed=0)}
    assert evals and all(task.split_of(e) == EVAL for e in task.eval_set(200, seed=0))
    rng = random.Random(0)
    train = {task.sample_split(rng, TRAIN).prompt for _ in range(3000)}
    assert not evals & train
    # another seed draws other held-out items, never training ones
    other = task.eval_set(200, seed=5)
    assert all(task.split_of(e) == EVAL for e in other) and not {e.prompt for e in other} & train


def test_direct_and_cot_hold_out_the_same_problems():
    d, c = build_task("word_problem", "direct"), build_task("word_problem", "cot")
    pd_ = {e.prompt for e in d.eval_set(100, 0)}
    pc = {e.prompt for e in c.eval_set(100, 0)}
    assert pd_ == pc


def test_facts_world_has_unique_names_and_evaluates_stored_facts():
    task = build_task("facts", entities=50)
    names = {f.prompt.split("'")[0] for f in task.facts}
    assert len(names) == 50 and len(task.facts) == 200
    assert {e.prompt for e in task.eval_set(10_000, 0)} == {f.prompt for f in task.facts}
    # recalling every fact stores sum(log2 |V|) minus chance
    bits = task.stored_bits(task.facts, [True] * len(task.facts))
    assert bits == pytest.approx(50 * (4 + 3 + 5 + 6) - 50 * (4 / 16 + 3 / 8 + 5 / 32 + 6 / 64))


def _worked_steps(c, n: int) -> list[int]:
    """Check a cot target: n true equations, each using the result before, then '#answer'; the
    equations' results."""
    eqs = c.target.split(";")[:-1]
    assert len(eqs) == n and c.target.endswith(f"#{c.answer}")
    for i, eq in enumerate(eqs):
        lhs, rhs = eq.split("=")
        assert eval(lhs) == int(rhs)
        if i:  # each step uses the one before
            assert eqs[i - 1].split("=")[1] in re.split(r"[*+-]", lhs)
    assert int(eqs[-1].split("=")[1]) == int(c.answer)
    return [int(eq.split("=")[1]) for eq in eqs]


def test_three_step_word_problems_follow_the_story():
    rng = random.Random(4)
    task, cot = build_task("word_problem", "direct", steps=3), build_task("word_problem", "cot", steps=3)
    for _ in range(300):
        ex = task.sample(rng)
        n = list(map(int, re.findall(r"\d+", ex.prompt)))
        if "packs of" in ex.prompt:
            truth = n[0] + n[1] * n[2] - n[3]
        elif "trades" in ex.prompt:
            truth = (n[0] - n[1] + n[2]) * n[3]
        else:
            truth = n[0] * n[1] - n[2] - n[3]
        assert int(ex.target) == truth and truth >= 0
        # the worked steps: three equations, each true, chained, ending in the answer
        c = cot.sample(random.Random(ex.prompt))
        _worked_steps(c, 3)


def test_chain_word_problems_follow_the_story():
    rng = random.Random(5)
    task = build_task("word_problem", "direct", style="chain", steps=4)
    cot = build_task("word_problem", "cot", style="chain", steps=4)
    moves = {"finds": lambda v, d: v + d, "loses": lambda v, d: v - d,
             "doubles": lambda v, d: 2 * v, "triples": lambda v, d: 3 * v}
    for _ in range(300):
        state = rng.getstate()
        ex = task.sample(rng)
        # replay the story sentence by sentence
        sentences = ex.prompt[3:].split(". ")
        value = int(re.search(r"\d+", sentences[0]).group())
        seen = []
        for sent in sentences[1:5]:
            verb = sent.split()[1]
            d = re.search(r"\d+", sent)
            value = moves[verb](value, int(d.group()) if d else 0)
            assert 1 <= value <= 99
            seen.append(value)
        assert int(ex.target) == value == int(ex.answer)
        # the same draws tell the same story with its worked steps: the counts replayed above
        twin = random.Random()
        twin.setstate(state)
        c = cot.sample(twin)
        assert c.prompt == ex.prompt and _worked_steps(c, 4) == seen
    held = {e.meta["numbers"] for e in task.eval_set(200, 0)}
    trained = {task.sample_split(rng, TRAIN).meta["numbers"] for _ in range(5000)}
    assert len(held) > 150 and not held & trained
    with pytest.raises(UserError, match="chain"):
        build_task("word_problem", "direct", style="chain", steps=9)
    with pytest.raises(UserError, match="style"):
        build_task("word_problem", "direct", style="poem")


def test_word_problem_holds_out_numbers_not_wordings():
    # a held-out problem's arithmetic is never trained under another name or object
    task = build_task("word_problem", "direct")
    held = {(e.meta["template"], e.meta["numbers"]) for e in task.eval_set(200, 0)}
    rng = random.Random(0)
    trained = {(e.meta["template"], e.meta["numbers"])
               for e in (task.sample_split(rng, TRAIN) for _ in range(5000))}
    assert held and not held & trained


def test_facts_popularity_follows_zipf():
    task = build_task("facts", entities=100, zipf=1.0)
    rng = random.Random(0)
    counts: dict[str, int] = {}
    for _ in range(60_000):
        name = task.sample(rng).prompt.split("'")[0]
        counts[name] = counts.get(name, 0) + 1
    freq = sorted(counts.values(), reverse=True)
    # rank r drawn with probability (1/r) / H_100: H_100 = 5.187
    assert freq[0] / 60_000 == pytest.approx(1 / 5.187, rel=0.05)
    assert freq[0] / freq[9] == pytest.approx(10, rel=0.2)
    # questions follow popularity too: the 40 most popular entities (45% of the draws) hold most
    # of a 100-question evaluation set, while uniform popularity gives them 40%
    top = set(sorted(counts, key=counts.get, reverse=True)[:40])
    share = lambda t: sum(e.prompt.split("\'")[0] in top for e in t.eval_set(100, 0)) / 100
    assert share(task) > 0.5
    assert share(build_task("facts", entities=100)) < 0.5
    with pytest.raises(UserError, match="zipf"):
        build_task("facts", zipf=-1)


def test_baseline_token_accuracy_matches_closed_form():
    # reversed 3-digit sums: three uniform digits (a random other answer matches each with
    # probability 1/10) and a carry digit that is 1 with probability 0.4995 (a + b >= 1000 for a, b
    # uniform in [0, 1000)), matching with probability q^2 + (1 - q)^2 ~ 0.5
    task = build_task("add", "reversed", digits=3)
    base = task.baselines(task.eval_set(3000, 0))
    q = 0.4995
    assert base["token_accuracy"] == pytest.approx((0.3 + q**2 + (1 - q) ** 2) / 4, abs=0.01)
    assert base["exact_match"] < 0.01
    assert base["target_logprob_mean"] == pytest.approx(-2.3978952728, rel=1e-6)  # log(1/11)


def test_unknown_task_variant_or_option_is_a_user_error():
    with pytest.raises(UserError, match="unknown task"):
        build_task("nope")
    with pytest.raises(UserError, match="no variant"):
        build_task("add", "sideways")
    with pytest.raises(UserError, match="bad option"):
        build_task("add", "plain", colour=3)
    with pytest.raises(UserError, match="digits"):
        build_task("add", "plain", digits=0)
