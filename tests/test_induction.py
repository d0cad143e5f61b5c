"""Recipe studies: the mixture each recipe trains, the transfer sets, the classes against planted
truth, and `emergelab induce` end to end on a tiny study."""

import json
import random
from collections import Counter

import numpy as np
import pytest

from emergelab.analysis.verdicts.curves import build_curves
from emergelab.analysis.verdicts.emergence import analyze_curves
from emergelab.analysis.verdicts.induction import classify_recipe, induction_records
from emergelab.planted import planted_recipe
from emergelab.config import parse_config
from emergelab.data.mixture import Mixture
from emergelab.data.recipes import ItemPool, study_components, study_mixture
from emergelab.errors import UserError
from emergelab.experiment import build_eval_tasks, build_tasks
from emergelab.tasks import EVAL, TRAIN, build_task
from emergelab.tasks.base import stable_fraction

from .conftest import run_cli

STUDY = """
name = "tiny"
[ladder]
d_models = [8, 16]
seeds = [0, 1]
[train]
steps = 20
batch_size = 32
warmup_steps = 4
checkpoints = 2
val_batch = 64
[eval]
bootstrap = 50
every_checkpoint = false
[[tasks]]
name = "add"
variant = "plain"
options = {digits = 2}
weight = 3
n_eval = 30
[[tasks]]
name = "add1"
n_eval = 20
[[recipes]]
name = "worked"
changes = [{kind = "ability_seeds", task = "add", share = 0.2}]
[[recipes]]
name = "leaked"
changes = [{kind = "contamination", task = "add", share = 0.1}]
"""


def _study(text=STUDY):
    import tomllib

    return parse_config(tomllib.loads(text), "test")


# -- the task world ------------------------------------------------------------------------------
@pytest.mark.parametrize("name,variant", [("add", "plain"), ("add", "reversed"),
                                          ("add", "scratchpad"), ("mul", "plain")])
def test_split_still_hashes_the_prompt_for_existing_formats(name, variant):
    """Runs without recipes see the same items: the split of every format that existed before
    the surface format is the hash of its prompt, as it always was."""
    task = build_task(name, variant, digits=3)
    rng = random.Random(0)
    for _ in range(3000):
        ex = task.sample(rng)
        expected = EVAL if stable_fraction(f"{name}|{ex.prompt}") < task.eval_fraction else TRAIN
        assert task.split_of(ex) == expected


def test_transfer_sets_are_what_they_claim():
    cfg = _study().experiments()[0]
    ets = {et.variant: et for et in build_eval_tasks(cfg) if et.task.name == "add"}
    assert set(ets) == {"plain", "plain-fresh", "plain-surface", "plain-harder"}
    ind = ets["plain"].examples
    fresh = ets["plain-fresh"].examples
    assert len(fresh) == len(ind) == 30
    assert not {e.prompt for e in fresh} & {e.prompt for e in ind}  # new items
    assert all(ets["plain-fresh"].task.split_of(e) == EVAL for e in fresh)
    # the surface set: the same items (operands and answers), written another way
    surf = ets["plain-surface"].examples
    assert [(e.meta["a"], e.meta["b"], e.answer) for e in surf] == \
        [(e.meta["a"], e.meta["b"], e.answer) for e in ind]
    assert all(" + " in e.prompt for e in surf)
    assert all(len(e.answer) == 4 for e in ets["plain-harder"].examples)  # 3-digit sums


# -- mixtures ------------------------------------------------------------------------------------
def test_added_data_replaces_a_share_of_the_rest():
    runs = _study().experiments()
    base, _ = study_components(runs[0], build_tasks(runs[0]))
    worked, _ = study_components(runs[1], build_tasks(runs[1]))
    assert sum(c.share for c in base) == pytest.approx(1)
    assert sum(c.share for c in worked) == pytest.approx(1)
    assert worked[-1].task.variant == "scratchpad" and worked[-1].share == pytest.approx(0.2)
    for b, w in zip(base, worked):  # every base row's share times 0.8
        assert w.share == pytest.approx(0.8 * b.share)
    # the surface format takes a quarter of the addition rows, on training items only
    assert [c.task.id for c in base] == ["add", "add/spaced", "add1"]
    assert base[1].share == pytest.approx(0.75 * 0.25)


def test_contamination_trains_on_exactly_the_evaluation_items():
    runs = _study().experiments()
    leaked = runs[2]
    mix = study_mixture(leaked, build_tasks(leaked), seed=0)
    pool = mix.tasks[-1]
    assert isinstance(pool, ItemPool)
    ind = next(et for et in build_eval_tasks(leaked) if et.variant == "plain").examples
    rows = {pool.sample_split(random.Random(i), TRAIN).prompt for i in range(2000)}
    assert rows == {e.prompt for e in ind}
    # no other component ever shows an evaluation item
    rng = random.Random(1)
    assert all(mix.tasks[0].sample_split(rng, TRAIN).prompt not in rows for _ in range(2000))


def test_repetition_and_curriculum_keep_every_tasks_rows():
    text = STUDY + """
[[recipes]]
name = "drilled"
changes = [{kind = "repetition", task = "add", items = 25},
           {kind = "curriculum", task = "add1", until = 0.25}]
"""
    drilled = _study(text).experiments()[3]
    mix = study_mixture(drilled, build_tasks(drilled), seed=0)
    assert isinstance(mix.tasks[0], ItemPool) and len({e.prompt for e in mix.tasks[0].items}) == 25
    steps = drilled.train.steps
    add1 = [i for i, t in enumerate(mix.tasks) if t.name == "add1"]
    per_step = [sum(mix.weights_at(s)[i] for i in add1) for s in range(steps)]
    assert np.mean(per_step) == pytest.approx(0.25)  # the base's share of add1 rows over the run
    assert per_step[0] == pytest.approx(1.0) and per_step[-1] == pytest.approx(0.0)


def test_a_mixture_without_phases_draws_as_before():
    tasks = [build_task("add", "reversed", digits=2), build_task("add1")]
    mix = Mixture(tasks, [3, 1], seed=4)
    rng = random.Random("mixture|4|train|7")
    picks = rng.choices(range(2), weights=[0.75, 0.25], k=64)
    got = mix.examples(7, 64)
    assert {t: len(v) for t, v in got.items()} == dict(sorted(Counter(picks).items()))


# -- classes against planted truth ----------------------------------------------------------------
def _classes(truth: str, n: int, seed: int) -> Counter:
    rng = np.random.default_rng(seed)
    got = Counter()
    for _ in range(n):
        df, _ = planted_recipe(rng, truth, shift=-1.0, spread=rng.uniform(0.1, 0.25),
                               spacing=rng.uniform(0.2, 0.4))
        curves = build_curves(df, "params_nonembed")
        analyze_curves(curves)
        got[induction_records(curves, ["recipe"])[0].class_] += 1
    return got


@pytest.mark.parametrize("truth,seed", [("transfers", 1), ("test_taking", 2), ("no_effect", 3)])
def test_planted_recipes_get_their_class(truth, seed):
    """Three seeds per size, a one-decade shift where the truth has one (bench/induction_calibration.py
    measures the rates on hundreds)."""
    got = _classes(truth, 10, seed)
    assert got[truth] >= 9, got


def test_class_rules_and_their_reasons():
    def row(shift, lo, hi):
        return {"shift_decades": shift, "shift_ci": [lo, hi], "significant": lo > 0 or hi < 0,
                "shift_bound": "exact", "note": None}

    early, none = row(-0.8, -1.1, -0.5), row(0.05, -0.2, 0.3)
    assert classify_recipe({"in_distribution": early, "fresh": early, "surface": early})[0] == \
        "transfers"
    cls, why = classify_recipe({"in_distribution": early, "fresh": none, "surface": none})
    assert cls == "test_taking" and "not on fresh" in why
    cls, why = classify_recipe({"in_distribution": early, "fresh": early, "surface": none})
    assert cls == "partial" and "surface" in why
    small = row(-0.3, -0.5, -0.1)  # significant, but under half the in-distribution shift
    assert classify_recipe({"in_distribution": early, "fresh": small})[0] == "partial"
    assert classify_recipe({"in_distribution": none, "fresh": early})[0] == "no_effect"
    assert classify_recipe({"in_distribution": row(0.7, 0.4, 1.0)})[0] == "later"
    one_seed = {**early, "significant": None}
    assert classify_recipe({"in_distribution": one_seed})[0] == "no_effect"


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("change,needle", [
    ('{kind = "data", task = "add9", share = 0.1}', "unknown task"),
    ('{kind = "ability_seeds", task = "add", share = 1.2}', "less than 1"),
    ('{kind = "ability_seeds", task = "add", share = 0}', "greater than 0"),
    ('{kind = "contamination", task = "mul", share = 0.1}', "not one of the base's tasks"),
    ('{kind = "repetition", task = "add", share = 0.1}', "needs items"),
])
def test_bad_recipe_is_one_line_and_exit_2(tmp_path, change, needle):
    cfg = tmp_path / "s.toml"
    cfg.write_text(STUDY + f'[[recipes]]\nname = "bad"\nchanges = [{change}]\n')
    out = tmp_path / "out"
    proc = run_cli("induce", "--config", cfg, "--out", out)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert not out.exists()


def test_contamination_needs_evaluation_items_and_recipes_one_budget():
    facts = STUDY + '[[tasks]]\nname = "facts"\noptions = {entities = 10}\n'
    with pytest.raises(UserError, match="no held-out evaluation items"):
        _study(facts + '[[recipes]]\nname = "f"\n'
                       'changes = [{kind = "contamination", task = "facts", share = 0.1}]\n')
    with pytest.raises(UserError, match="base's step budget"):
        _study(STUDY + '[[recipes]]\nname = "long"\nsteps = 40\n'
                       'changes = [{kind = "ability_seeds", task = "add", share = 0.1}]\n')


def test_run_refuses_a_study_and_induce_a_plain_run(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text(STUDY)
    proc = run_cli("run", "--config", cfg, "--out", tmp_path / "o")
    assert proc.returncode == 2 and "emergelab induce" in proc.stderr
    proc = run_cli("induce", "--preset", "micro", "--out", tmp_path / "o")
    assert proc.returncode == 2 and "no [[recipes]]" in proc.stderr
    assert not (tmp_path / "o").exists()


# -- end to end ----------------------------------------------------------------------------------
def test_induce_end_to_end_resumes_and_reuses_the_base(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text(STUDY)
    out = tmp_path / "study"
    proc = run_cli("induce", "--config", cfg, "--out", out, "--quiet", "--json")
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)
    assert {r["recipe"] for r in records} == {"worked", "leaked"}
    assert {r["set"] for r in records if r["task"] == "add/plain"} == \
        {"in_distribution", "fresh", "surface", "harder"}
    for r in records:
        assert set(r) >= {"recipe", "task", "set", "shift_decades", "shift_ci", "significant",
                          "efficiency", "class", "reason"}
        assert r["class"] in ("transfers", "partial", "test_taking", "earlier", "no_effect",
                              "later")
    assert (out / "report" / "induction.png").stat().st_size > 0
    # the HTML report of the study carries the same records, with their picture
    from emergelab.render.html import build_report

    page = build_report(out, tmp_path / "r.html").read_text()
    data = json.loads(page.split('id="report-data">', 1)[1].split("</script>", 1)[0])
    assert len(data["induction"]["records"]) == len(records)
    assert data["induction"]["png"].startswith("data:image/png;base64,")
    files = {p: p.stat().st_mtime_ns for p in (out / "base").rglob("*") if p.is_file()}

    # a finished study is only read; a new recipe trains alone, the base is reused as it is
    cfg.write_text(STUDY + '[[recipes]]\nname = "more"\n'
                           'changes = [{kind = "data", task = "add", variant = "plain", '
                           'options = {digits = 2}, share = 0.2}]\n')
    proc = run_cli("induce", "--config", cfg, "--out", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "more" in proc.stdout and "add/plain" in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80
    changed = [p for p, t in files.items()
               if p.exists() and p.stat().st_mtime_ns != t and p.suffix == ".parquet"]
    assert not changed
    assert (out / "more" / "results").is_dir()
