"""Task files (BIG-bench JSON, JSONL), multiple-choice scoring and BIG-bench score files."""

import json
import math

import numpy as np
import pytest

from emergelab.errors import UserError
from emergelab.evaluate.external import tasks_from_specs
from emergelab.evaluate.metrics import multiple_choice_metrics
from emergelab.evaluate.runner import evaluate_model
from emergelab.evaluate.scoring import CharScorer
from emergelab.importers import read_lmeval_dir
from emergelab.models.gpt import GPT, GPTConfig
from emergelab.tasks.imported import load_task_file

from .conftest import run_cli

BIGBENCH_MC = {
    "name": "tiny_mc", "description": "which sum is right", "metrics": ["multiple_choice_grade"],
    "task_prefix": "Sums.",
    "examples": [{"input": f"{a}+{b}", "target_scores": {str(a + b): 1, str(a + b + 2): 0}}
                 for a in range(4) for b in range(3)],
}
BIGBENCH_GEN = {"name": "tiny_gen", "examples": [{"input": "2+2", "target": ["4", "four"]}],
                "example_output_prefix": " = "}


def test_multiple_choice_metrics_closed_form():
    lp = [math.log(0.5), math.log(0.3), math.log(0.2)]
    m = multiple_choice_metrics(lp, [0.0, 1.0, 0.0])
    assert m["multiple_choice_grade"] == 0.0  # picked option 0, whose score is 0
    assert m["brier_score"] == pytest.approx(0.5**2 + 0.7**2 + 0.2**2)
    assert m["target_logprob"] == pytest.approx(math.log(0.3))
    # probabilities are renormalised over the options (log-likelihoods need not sum to 1)
    m2 = multiple_choice_metrics([x - 3.0 for x in lp], [0.0, 1.0, 0.0])
    assert m2["brier_score"] == pytest.approx(m["brier_score"])
    assert multiple_choice_metrics(lp, [1.0, 0.0, 0.0])["multiple_choice_grade"] == 1.0


def test_bigbench_json_prompt_format_and_baselines(tmp_path):
    path = tmp_path / "task.json"
    path.write_text(json.dumps(BIGBENCH_MC))
    task = load_task_file(str(path))
    ex = task.examples[0]
    # BIG-bench's json_task layout: prefix, "\nQ: " input, the options, "\nA: "
    assert ex.prompt == "Sums.\nQ: 0+0\n  choice: 0\n  choice: 2\nA: "
    assert ex.choices == ("0", "2") and ex.choice_scores == (1.0, 0.0) and ex.answer == "0"
    base = task.baselines(task.examples)
    assert base["multiple_choice_grade"] == pytest.approx(0.5)
    assert base["brier_score"] == pytest.approx(0.5)  # (k - 1) / k for k = 2
    assert base["target_logprob"] == pytest.approx(math.log(0.5))
    gen_path = tmp_path / "gen.json"
    gen_path.write_text(json.dumps(BIGBENCH_GEN))
    gen = load_task_file(str(gen_path))
    assert gen.examples[0].prompt == "\nQ: 2+2 = " and gen.examples[0].answer == "4"
    assert not gen.examples[0].is_multiple_choice


def test_multiple_choice_grade_equals_independent_loglik_argmax(tmp_path):
    """The grade our evaluator reports is the share of examples whose best-scored option has the
    highest summed log-probability, recomputed here from plain forward passes."""
    import torch

    path = tmp_path / "task.json"
    path.write_text(json.dumps(BIGBENCH_MC))
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=99, block_size=64, n_layer=1, n_head=2, d_model=16)).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.5)
    (et,) = tasks_from_specs([str(path)], 100, 0)
    _, results = evaluate_model(CharScorer(model, batch_size=5), [et], n_boot=20)
    grade = next(r["value"] for r in results if r["metric"] == "multiple_choice_grade")
    from emergelab.data.tokenizer import CharTokenizer

    tok, wins = CharTokenizer(), []
    for e in et.examples:
        lps = []
        for c in e.choices:
            ids = [tok.bos_id] + tok.encode(e.prompt + c)
            with torch.no_grad():
                logp = torch.log_softmax(model(torch.tensor([ids]))[0], -1)
            start = len(ids) - len(c)
            lps.append(sum(logp[i - 1, ids[i]].item() for i in range(start, len(ids))))
        wins.append(e.choice_scores[int(np.argmax(lps))])
    assert 0 < np.mean(wins) < 1  # the random model gets some right, some wrong
    assert grade == pytest.approx(np.mean(wins))


@pytest.mark.parametrize("content, needle", [
    ('{"examples": []}', "non-empty 'examples'"),
    ('{"examples": [{"input": "x"}]}', "example 0"),
    ('{"examples": [{"input": "x", "target_scores": {"a": 1}}]}', "at least two options"),
    ('not json', "not valid JSON"),
])
def test_bad_bigbench_files(tmp_path, content, needle):
    path = tmp_path / "t.json"
    path.write_text(content)
    with pytest.raises(UserError, match=needle):
        load_task_file(str(path))


def test_jsonl_tasks(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text('{"prompt": "1+1=", "target": "2"}\n{"input": "2+2=", "answer": "4"}\n')
    task = load_task_file(str(path))
    assert [(e.prompt, e.answer) for e in task.examples] == [("1+1=", "2"), ("2+2=", "4")]
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text('{"prompt": "a", "target": "b"}\n{"prompt": "c", "choices": ["d", "e"], "label": 1}\n')
    with pytest.raises(UserError, match="mixes"):
        load_task_file(str(mixed))


def _bigbench_scores(model_name, params, value):
    return {"model": {"model_family": "BIG-G T=0", "model_name": model_name,
                      "total_params": params, "non_embedding_params": params // 2,
                      "flop_matched_non_embedding_params": params // 2, "training_steps": 1000},
            "task": {"task_name": "modified_arithmetic"},
            "scores": [
                {"preferred_score": "exact_str_match", "number_of_shots": 2, "low_score": 0.0,
                 "high_score": 1.0, "subtask_description": "modified_arithmetic:three_digit_addition",
                 "score_dict": {"exact_str_match": value, "log_likelihood": -10.0 + value}},
                {"preferred_score": "normalized_aggregate_score", "number_of_shots": 2,
                 "low_score": 0.0, "high_score": 100.0, "subtask_description": "modified_arithmetic",
                 "score_dict": {"normalized_aggregate_score": 50.0}}]}


def test_bigbench_scores_import_and_analyze(tmp_path):
    sizes = [2e6, 16e6, 53e6, 125e6, 244e6, 422e6, 1e9, 2e9]
    values = [0.0, 0.01, 0.0, 0.01, 0.02, 0.3, 0.7, 0.9]
    d = tmp_path / "modified_arithmetic" / "results"
    d.mkdir(parents=True)
    for s, v in zip(sizes, values):
        (d / f"scores_BIG-G_{int(s)}_T=0.json").write_text(json.dumps(_bigbench_scores(f"{int(s)}", int(s), v)))
    df = read_lmeval_dir(tmp_path)
    assert set(df["metric"]) == {"exact_str_match", "log_likelihood"}  # aggregate skipped
    row = df[(df["metric"] == "exact_str_match") & (df["params"] == 1e9)].iloc[0]
    assert row["value"] == 0.7 and row["params_nonembed"] == 5e8 and row["shots"] == 2
    assert row["variant"] == "three_digit_addition" and row["family"] == "BIG-G T=0"
    assert row["baseline"] == 0.0
    r = run_cli("analyze", tmp_path, "--json", "--where", "metric = 'exact_str_match'")
    assert r.returncode == 0, r.stderr
    (res,) = json.loads(r.stdout)
    assert res["classification"] == "emergent"
    assert 2.44e8 < res["threshold"] < 1e9
