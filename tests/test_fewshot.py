"""Few-shot as an axis: demonstrations from the train split (never an evaluated example), seeded,
laid out as each task family expects; shot counts in configs and `eval`; the few-shot gain read
against scale; families that keep variants apart."""

import json

import numpy as np
import pandas as pd
import pytest

from emergelab.analysis.verdicts.in_context import emerges_at, shot_gains
from emergelab.config import RunConfig
from emergelab.errors import UserError
from emergelab.evaluate.external import tasks_from_specs
from emergelab.experiment import setup
from emergelab.importers import family_of
from emergelab.tasks import TRAIN, build_task
from emergelab.tasks.fewshot import demonstrations, with_shots
from emergelab.tasks.imported import load_task_file

from .conftest import run_cli


def test_demonstrations_are_seeded_train_examples_never_evaluated_ones():
    task = build_task("add", "reversed", digits=2)
    evaluated = task.eval_set(50, seed=0)
    demos = demonstrations(task, 4, 0, evaluated)
    assert len({d.prompt for d in demos}) == 4
    assert all(task.split_of(d) == TRAIN for d in demos)
    assert not {d.prompt for d in demos} & {e.prompt for e in evaluated}
    assert demos == demonstrations(task, 4, 0, evaluated)  # seeded
    assert demos != demonstrations(task, 4, 1, evaluated)
    shot = with_shots(task, evaluated, 4, 0)
    for e, s in zip(evaluated, shot):  # the demonstrations, one a line, then the question
        assert s.prompt == "".join(d.prompt + d.target + "\n" for d in demos) + e.prompt
        assert (s.target, s.answer) == (e.target, e.answer)
    assert with_shots(task, evaluated, 0, 0) == evaluated


def test_memorised_facts_never_show_an_evaluated_fact_as_a_demonstration():
    task = build_task("facts", entities=20)
    evaluated = task.eval_set(30, seed=0)
    demos = demonstrations(task, 3, 0, evaluated)
    assert not {d.prompt for d in demos} & {e.prompt for e in evaluated}


def test_bigbench_few_shot_keeps_its_prefix_once_and_its_separator(tmp_path):
    path = tmp_path / "bb.json"
    path.write_text(json.dumps({
        "name": "bb", "task_prefix": "Answer.", "few_shot_example_separator": " | ",
        "examples": [{"input": f"{i}+1", "target": str(i + 1)} for i in range(6)]}))
    task = load_task_file(str(path))
    evaluated = task.eval_set(4, 0)
    shot = with_shots(task, evaluated, 2, 0)
    demos = demonstrations(task, 2, 0, evaluated)
    assert {d.prompt for d in demos} <= {e.prompt for e in task.examples[4:]}
    body = [d.prompt[len("Answer."):] + d.target for d in demos]
    assert shot[0].prompt == "Answer." + " | ".join(body + [evaluated[0].prompt[len("Answer."):]])
    assert shot[0].prompt.count("Answer.") == 1
    with pytest.raises(UserError, match="2 examples"):  # only examples 4 and 5 are left
        demonstrations(task, 3, 0, evaluated)


def test_jsonl_train_lines_are_demonstrations_and_without_them_shots_are_refused(tmp_path):
    path = tmp_path / "t.jsonl"
    rows = [{"prompt": f"{i}?", "target": str(i)} for i in range(5)]
    rows += [{"prompt": f"t{i}?", "target": "x", "split": "train"} for i in range(2)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = load_task_file(str(path))
    assert len(task.examples) == 5  # train lines are never evaluated
    assert {d.prompt for d in demonstrations(task, 2, 0, task.examples)} == {"t0?", "t1?"}
    bare = tmp_path / "bare.jsonl"
    bare.write_text("".join(json.dumps(r) + "\n" for r in rows[:5]))
    with pytest.raises(UserError, match="has no train split"):
        tasks_from_specs([str(bare)], 5, 0, shots=[0, 1])


def test_too_many_shots_for_the_train_split_is_one_line():
    with pytest.raises(UserError, match="train split has fewer than 500"):
        tasks_from_specs(["add1"], 10, 0, shots=[500])  # 100 sums, ~80 in train


def test_a_run_config_scores_each_task_at_each_shot_count_and_trains_it_once():
    cfg = RunConfig.model_validate({
        "name": "s", "ladder": {"d_models": [8]}, "train": {"steps": 1},
        "tasks": [{"name": "add1", "shots": [0, 3]}, {"name": "facts"}]})
    eval_tasks, mixture, _ = setup(cfg)
    assert [(et.task.id, et.shots) for et in eval_tasks] == [("add1", 0), ("add1", 3),
                                                             ("facts", 0)]
    assert [t.id for t in mixture.tasks] == ["add1", "facts"]
    assert all(e.prompt.count("\n") == 3 for e in eval_tasks[1].examples)


def test_shots_and_limit_errors_are_one_line(tmp_path):
    for args, line in ((["--shots", "0,-1"], "error: --shots must be 0 or more, not -1"),
                       (["--limit", "0"], "error: Invalid value for '--n' / '--limit': Input "
                                          "should be greater than or equal to 1")):
        r = run_cli("eval", "--model", tmp_path, "--tasks", "add1", "--out", tmp_path / "o",
                    *args)
        assert r.returncode == 2 and r.stderr.strip().splitlines() == [line], r.stderr
    assert not (tmp_path / "o").exists()


def test_few_shot_gain_against_scale_finds_a_planted_onset(tmp_path):
    """Five sizes; 0-shot at 0.10 everywhere; 4-shot equal to it below 1e8 parameters and 0.60
    from 1e8 up (intervals +-0.05): the gain is 0 then 0.5, positive from 1e8 exactly."""
    rows = []
    for p in (1e6, 1e7, 1e8, 1e9, 1e10):
        for k, v in ((0, 0.10), (4, 0.60 if p >= 1e8 else 0.10)):
            rows.append({"family": "f", "model_id": f"m{p:g}", "params": p, "task": "t",
                         "variant": "plain", "shots": k, "metric": "exact_match", "value": v,
                         "ci_low": v - 0.05, "ci_high": v + 0.05})
    pd.DataFrame(rows).to_csv(tmp_path / "r.csv", index=False)
    gains = shot_gains(tmp_path / "r.csv")
    assert [round(g.gain, 6) for g in gains] == [0, 0, 0.5, 0.5, 0.5]
    half = float(np.hypot(0.05, 0.05))
    assert gains[2].gain_ci == pytest.approx((0.5 - half, 0.5 + half))
    assert emerges_at(gains) == 1e8


@pytest.mark.parametrize("name,family", [
    ("pythia-410m", "pythia"), ("pythia-410m-deduped", "pythia-deduped"),
    ("pythia-1.4b-deduped-step1000", "pythia-deduped"), ("Qwen2.5-0.5B-Instruct", "Qwen2.5-Instruct"),
    ("Llama-2-7b-chat-hf", "Llama-2-chat-hf"), ("gpt2", "gpt2")])
def test_families_keep_deduped_and_tuned_variants_apart(name, family):
    assert family_of(name) == family


def test_the_generation_budget_is_the_tasks_not_the_targets_length():
    """A model that never stops fills the whole budget (twice the longest target + 8 tokens by
    default, or the task's max_new_tokens), so its edit distance is not capped near the target's
    length; a newline ends one-line answers, a task's stop strings end any."""
    from types import SimpleNamespace

    import torch

    from emergelab.data.tokenizer import CharTokenizer
    from emergelab.evaluate.scoring import CharScorer, cut_at_stop, stops_for

    x = CharTokenizer().stoi["x"]

    class Rambler(torch.nn.Module):  # always says "x"
        cfg = SimpleNamespace(block_size=256)

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def new_cache(self):
            return None

        def decode(self, idx, mask, cache):  # the last position's logits, as GPT.decode
            logits = torch.zeros(idx.shape[0], CharTokenizer().vocab_size)
            logits[:, x] = 1.0
            return logits

    task = build_task("add1")
    scorer = CharScorer(Rambler())
    out = scorer.generate(["3+4="], ["7"], task.generation_budget)
    assert out == ["x" * (2 * 1 + 8)]
    task.max_new_tokens = 40
    assert scorer.generate(["3+4="], ["7"], task.generation_budget) == ["x" * 40]
    assert stops_for(["7"]) == ("\n",) and stops_for(["a\nb"]) == ()
    assert cut_at_stop("12\n3+4=7", stops_for(["7"])) == "12"
    assert cut_at_stop("12;3", stops_for(["a\nb"], (";",))) == "12"


def test_few_shot_gain_of_a_harness_table_with_stderr_and_both_model_columns(tmp_path):
    """A harness table (acc with stderr, no interval) whose loader also has a model_id column
    beside `model`: gains with intervals from the stderrs, no traceback."""
    rows = []
    for p in (1e8, 1e9):
        for k, v in ((0, 0.30), (5, 0.30 if p < 1e9 else 0.50)):
            rows.append({"family": "f", "model": f"m{p:g}", "model_id": f"m{p:g}", "params": p,
                         "task": "t", "shots": k, "metric": "acc", "value": v, "stderr": 0.01})
    pd.DataFrame(rows).to_csv(tmp_path / "r.csv", index=False)
    gains = shot_gains(tmp_path / "r.csv")
    assert [round(g.gain, 6) for g in gains] == [0, 0.2]
    half = 1.959964 * float(np.hypot(0.01, 0.01))
    assert gains[1].gain_ci == pytest.approx((0.2 - half, 0.2 + half))
    assert gains[1].positive and not gains[0].positive


def test_few_shot_gain_on_pythia(shared_data):
    from .conftest import run_cli

    proc = run_cli("shots", shared_data / "pythia_evals.csv", "--where",
                   "family = 'pythia' AND final_checkpoint", "--json")
    assert proc.returncode == 0, proc.stderr
    gains = json.loads(proc.stdout)
    assert {g["shots"] for g in gains} == {5} and {g["metric"] for g in gains} <= {"acc", "acc_norm"}
