"""Hugging Face models in, our checkpoints out: export with identical logits, evaluation that does
not depend on batching, and agreement between evaluating our checkpoint and its export."""

import json

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from emergelab.config import TrainConfig  # noqa: E402
from emergelab.data.mixture import Mixture  # noqa: E402
from emergelab.data.tokenizer import CharTokenizer  # noqa: E402
from emergelab.evaluate.external import tasks_from_specs, evaluate_models  # noqa: E402
from emergelab.evaluate.hf_scoring import HFScorer, load_hf_model  # noqa: E402
from emergelab.evaluate.runner import evaluate_model  # noqa: E402
from emergelab.models.gpt import GPTConfig  # noqa: E402
from emergelab.export.hf import export_hf  # noqa: E402
from emergelab.models.ladder import Member  # noqa: E402
from emergelab.store import read_results, read_samples  # noqa: E402
from emergelab.tasks import build_task  # noqa: E402
from emergelab.train.checkpoint import list_checkpoints, load_checkpoint  # noqa: E402
from emergelab.train.loop import train_member  # noqa: E402

from .conftest import run_cli  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small model trained for two seconds: right on some add1 items, wrong on others, so
    agreement tests compare real mixtures of successes and failures."""
    root = tmp_path_factory.mktemp("ladder")
    tasks = [build_task("add1"), build_task("add", "reversed", digits=2)]
    member = Member("t", 0, GPTConfig(vocab_size=99, block_size=128, n_layer=2, n_head=2, d_model=32))
    train_member(member, Mixture(tasks, [1, 1], seed=0),
                 TrainConfig(steps=200, batch_size=64, warmup_steps=20, checkpoints=2,
                             val_batch=32, lr=1e-2), root / "t")
    step_dir = list_checkpoints(root / "t")[-1][1]
    export_hf(step_dir, root / "hf")
    return step_dir, root / "hf"


def test_export_loads_with_identical_logits_and_tokenizer(trained):
    step_dir, hf_dir = trained
    ours, info = load_checkpoint(step_dir)
    hf = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, local_files_only=True)
    tok = transformers.AutoTokenizer.from_pretrained(hf_dir, local_files_only=True)
    text = "7+8=15\n" + "".join(chr(c) for c in range(32, 127))[:20]
    ids = tok(text)["input_ids"]
    assert ids == [CharTokenizer().bos_id] + CharTokenizer().encode(text)
    assert tok.decode(ids, skip_special_tokens=True) == text
    x = torch.tensor([ids, ids[::-1][:len(ids)]])
    with torch.no_grad():
        a, b = ours(x), hf(x).logits
    assert torch.allclose(a, b, atol=1e-5, rtol=0)
    assert torch.equal(a.argmax(-1), b.argmax(-1))
    # the parameter count read from the exported model is ours
    n_total = sum(p.numel() for p in hf.parameters())
    assert n_total == info["params"]


def test_eval_of_export_agrees_with_our_checkpoint(trained, tmp_path):
    step_dir, hf_dir = trained
    evaluate_models([str(step_dir), str(hf_dir)], ["add1", "add/reversed"], tmp_path / "ev", n=60,
                    batch_size=16, n_boot=50)
    res = read_results(tmp_path / "ev")
    ours = res[res["family"] == "emergelab"].set_index(["task", "metric"])["value"]
    theirs = res[res["model_id"] == "hf"].set_index(["task", "metric"])["value"]
    assert set(res["params_nonembed"]) == {load_checkpoint(step_dir)[1]["params_nonembed"]}
    em = ours.xs("exact_match", level="metric")
    assert 0.1 < em["add1"] < 0.95  # a real mixture of right and wrong answers
    for key, v in ours.items():
        assert theirs[key] == pytest.approx(v, abs=1e-4), key
    s = read_samples(tmp_path / "ev").sort_values(["task", "example_id"])
    a, b = (s[s["model_id"] == m] for m in ("hf", s["model_id"][s["model_id"] != "hf"].iloc[0]))
    assert a["generated"].tolist() == b["generated"].tolist()


def _tiny_bpe_llama(tmp_path):
    """A randomly initialised Llama-architecture model (rotary positions) with a BPE tokenizer
    trained here: a model unlike ours, to test batching on its own terms."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    corpus = [f"{a}+{b}={a + b}\nQ: what is {a} plus {b}? A: {a + b}" for a in range(60) for b in range(60)]
    core.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>",
                                               eos_token="</s>", unk_token="<unk>")
    cfg = transformers.LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                   num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, max_position_embeddings=128,
                                   initializer_range=0.5, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg)
    model.save_pretrained(tmp_path / "llama-tiny")
    tok.save_pretrained(tmp_path / "llama-tiny")
    return tmp_path / "llama-tiny"


def _mc_file(tmp_path):
    path = tmp_path / "mc.jsonl"
    rows = [{"prompt": f"{a}+{b}=", "choices": [str(a + b), str(a + b + 1), str(a * b)],
             "label": 0} for a in range(3, 9) for b in range(2, 7)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("which", ["ours-exported", "llama-bpe"])
def test_scores_do_not_depend_on_batch_size(trained, tmp_path, which):
    path = trained[1] if which == "ours-exported" else _tiny_bpe_llama(tmp_path)
    model, tok = load_hf_model(path)
    tasks = tasks_from_specs(["add1", "word_problem/cot", str(_mc_file(tmp_path))], 25, 0)
    runs = [evaluate_model(HFScorer(model, tok, bs), tasks, n_boot=20)[0] for bs in (1, 4, 32)]
    from emergelab.evaluate.batch_size import auto_batch_size

    auto = HFScorer(model, tok, 1)
    auto.batch_size = auto_batch_size(auto, tasks)  # --batch-size auto: the largest that fits
    assert auto.batch_size >= 32
    runs.append(evaluate_model(auto, tasks, n_boot=20)[0])
    for samples in runs[1:]:
        for s1, s in zip(runs[0], samples):
            assert s["generated"] == s1["generated"]
            np.testing.assert_allclose(s["token_logprobs"], s1["token_logprobs"], atol=1e-4)
            np.testing.assert_allclose(s["choice_logprobs"], s1["choice_logprobs"], atol=1e-4)


def test_hf_scorer_matches_unbatched_forward(tmp_path):
    """Log-likelihood of a continuation equals the sum read off one plain forward pass."""
    path = _tiny_bpe_llama(tmp_path)
    model, tok = load_hf_model(path)
    scorer = HFScorer(model, tok, batch_size=3)
    prompts = ["12+30=", "Q: what is 4 plus 5? A:", "7+"]
    conts = ["42", " 9", "1=8"]
    got = scorer.choice_logprobs([(p, [c]) for p, c in zip(prompts, conts)])
    for (lp,), p, c in zip(got, prompts, conts):
        ctx = tok(p.rstrip(" "))["input_ids"]
        whole = tok(p + c)["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([whole])).logits[0], -1)
        want = sum(logp[i - 1, whole[i]].item() for i in range(len(ctx), len(whole)))
        assert lp == pytest.approx(want, abs=1e-4)


def test_eval_cli_family_glob_and_resume(trained, tmp_path):
    step_dir, hf_dir = trained
    fam = tmp_path / "family"
    for name in ("tiny-1k", "tiny-2k"):
        export_hf(step_dir, fam / name)
    r = run_cli("eval", "--model", str(fam / "tiny-*"), "--tasks", "add1", "--out",
                tmp_path / "ev", "--n", "30")
    assert r.returncode == 0, r.stderr
    res = read_results(tmp_path / "ev")
    assert sorted(res["model_id"].unique()) == ["tiny-1k", "tiny-2k"]
    assert set(res["family"]) == {"tiny"}
    assert {"n_layer", "d_model", "n_head"} <= set(res.columns) and set(res["n_layer"]) == {2}
    again = run_cli("eval", "--model", str(fam / "tiny-*"), "--tasks", "add1", "--out",
                    tmp_path / "ev", "--n", "30")  # resumes: nothing to redo
    assert again.returncode == 0 and "(0 models evaluated now)" in " ".join(again.stdout.split())


def test_export_cli_and_errors(trained, tmp_path):
    step_dir, hf_dir = trained
    r = run_cli("export", "hf", step_dir.parent, tmp_path / "out")  # a model dir: its last step
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "model.safetensors").exists()
    r = run_cli("export", "hf", step_dir, tmp_path / "out")
    assert r.returncode == 2 and "not an empty directory" in r.stderr
    r = run_cli("export", "hf", tmp_path, tmp_path / "o2")
    assert r.returncode == 2 and "not a checkpoint" in r.stderr and not (tmp_path / "o2").exists()


def _err(r):
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


def test_eval_errors_are_one_line(trained, tmp_path):
    step_dir, hf_dir = trained
    out = tmp_path / "ev"
    assert "no such model directory" in _err(run_cli("eval", "--model", tmp_path / "nope",
                                                     "--tasks", "add1", "--out", out))
    assert "no config.json" in _err(run_cli("eval", "--model", tmp_path, "--tasks", "add1",
                                            "--out", out))
    # a corrupted weights file
    bad = tmp_path / "bad"
    export_hf(step_dir, bad)
    (bad / "model.safetensors").write_bytes(b"\x00" * 64)
    assert "cannot load the model" in _err(run_cli("eval", "--model", bad, "--tasks", "add1",
                                                   "--out", out))
    # a tokenizer from another model: more tokens than the model has embeddings
    llama = _tiny_bpe_llama(tmp_path)
    mixed = tmp_path / "mixed"
    export_hf(step_dir, mixed)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (mixed / f).write_text((llama / f).read_text())
    assert "tokenizer does not match" in _err(run_cli("eval", "--model", mixed, "--tasks", "add1",
                                                      "--out", out))
    # a task file with bad fields
    task = tmp_path / "t.jsonl"
    task.write_text('{"prompt": "1+1=", "choices": ["2"], "label": 0}\n')
    assert "line 1" in _err(run_cli("eval", "--model", hf_dir, "--tasks", str(task), "--out", out))
    assert not out.exists()  # nothing written by any failure


def test_lmeval_runs_our_exported_tasks_and_agrees(trained, tmp_path):
    """lm-evaluation-harness, offline, on our exported model and tasks: the same generations
    and exact match as our own evaluation, and its multiple-choice accuracy equals our grade."""
    import os
    import subprocess
    import sys

    pytest.importorskip("lm_eval")
    _, hf_dir = trained
    mc = _mc_file(tmp_path)
    specs = ["add1", "word_problem/cot", str(mc)]
    r = run_cli("export", "lmeval-tasks", tmp_path / "tasks", "--tasks", ",".join(specs),
                "--n", "40")
    assert r.returncode == 0, r.stderr
    evaluate_models([str(hf_dir)], specs, tmp_path / "ours", n=40, n_boot=20)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    names = "emergelab_add1,emergelab_word_problem_cot,emergelab_mc"
    p = subprocess.run([sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args",
                        f"pretrained={hf_dir},dtype=float32", "--device", "cpu", "--include_path",
                        str(tmp_path / "tasks"), "--tasks", names, "--batch_size", "8",
                        "--output_path", str(tmp_path / "lm"), "--log_samples"],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    theirs = json.loads(next((tmp_path / "lm").rglob("results_*.json")).read_text())["results"]
    ours = read_results(tmp_path / "ours").set_index(["task", "metric"])["value"]
    assert theirs["emergelab_add1"]["exact_match,none"] == pytest.approx(ours["add1", "exact_match"])
    assert theirs["emergelab_word_problem_cot"]["exact_match,final_answer"] == pytest.approx(
        ours["word_problem", "exact_match"])
    assert theirs["emergelab_mc"]["acc,none"] == pytest.approx(ours["mc", "multiple_choice_grade"])
    # generation by generation
    samples = read_samples(tmp_path / "ours")
    for task, name in (("add1", "emergelab_add1"), ("word_problem", "emergelab_word_problem_cot")):
        lm = [json.loads(x) for x in next((tmp_path / "lm").rglob(f"samples_{name}_*.jsonl"))
              .read_text().splitlines()]
        got = dict(zip(samples[samples["task"] == task]["prompt"],
                       samples[samples["task"] == task]["generated"]))
        assert len(lm) == len(got)
        for s in lm:
            assert s["resps"][0][0] == got[s["doc"]["prompt"]], (task, s["doc"])


def test_lmeval_builds_our_few_shot_prompts(trained, tmp_path):
    """`export lmeval-tasks --shots 3` and a plain `lm_eval --tasks emergelab_add1`: the harness
    builds, example by example, the prompt `eval --shots 3` scored, and the same exact match."""
    import os
    import subprocess
    import sys

    pytest.importorskip("lm_eval")
    _, hf_dir = trained
    r = run_cli("export", "lmeval-tasks", tmp_path / "tasks", "--tasks", "add1", "--n", "40",
                "--shots", "3")
    assert r.returncode == 0, r.stderr
    evaluate_models([str(hf_dir)], ["add1"], tmp_path / "ours", n=40, n_boot=20, shots=[3])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    p = subprocess.run([sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args",
                        f"pretrained={hf_dir},dtype=float32", "--device", "cpu", "--include_path",
                        str(tmp_path / "tasks"), "--tasks", "emergelab_add1", "--batch_size", "8",
                        "--output_path", str(tmp_path / "lm"), "--log_samples"],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    samples = read_samples(tmp_path / "ours")
    assert set(samples["shots"]) == {3}
    ours = dict(zip(samples["example_id"], samples["prompt"]))
    lm = [json.loads(x) for x in next((tmp_path / "lm").rglob("samples_emergelab_add1_*.jsonl"))
          .read_text().splitlines()]
    assert len(lm) == len(ours) >= 15  # add1's held-out split: ~20 of its 100 sums
    same = sum(s["arguments"]["gen_args_0"]["arg_0"] == ours[s["doc_id"]] for s in lm)
    assert same == len(ours), lm[0]["arguments"]
    assert all(ours[i].count("\n") == 3 for i in ours)  # three demonstrations, then the question
    theirs = json.loads(next((tmp_path / "lm").rglob("results_*.json")).read_text())["results"]
    em = read_results(tmp_path / "ours").set_index(["task", "metric"])["value"]["add1", "exact_match"]
    assert abs(theirs["emergelab_add1"]["exact_match,none"] - em) <= 0.02


def test_token_metrics_and_their_baselines_are_in_the_models_tokens(tmp_path):
    """A BPE model's token metrics count its tokens, and so do their baselines: the per-token
    log-probability baseline divides each answer's uniform-guess total by the answer's BPE
    tokens, and the edit distance is over BPE tokens (checked by a plain dynamic programme)."""
    import math

    path = _tiny_bpe_llama(tmp_path)
    evaluate_models([str(path)], ["add/reversed"], tmp_path / "ev", n=30, n_boot=20)
    _, tok = load_hf_model(path)
    res = read_results(tmp_path / "ev").set_index("metric")
    task = build_task("add", "reversed")
    examples = task.eval_set(30, 0)
    k = len(task.answer_alphabet()) + 1
    n_tok = [len(tok(e.target, add_special_tokens=False)["input_ids"]) for e in examples]
    assert any(n != len(e.target) for n, e in zip(n_tok, examples))  # BPE merges digits
    want = sum(-len(e.target) * math.log(k) / n for e, n in zip(examples, n_tok)) / len(examples)
    assert res.loc["target_logprob_mean", "baseline"] == pytest.approx(want)

    def dp(a, b):
        row = list(range(len(b) + 1))
        for i, x in enumerate(a, 1):
            prev, row[0] = row[0], i
            for j, y in enumerate(b, 1):
                prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
        return row[-1]

    samples = read_samples(tmp_path / "ev")
    ids = [dp(tok(g, add_special_tokens=False)["input_ids"],
              tok(t, add_special_tokens=False)["input_ids"])
           for g, t in zip(samples["generated"], samples["target"])]
    assert res.loc["token_edit_distance", "value"] == pytest.approx(np.mean(ids))


def test_eval_pass_until_agrees_between_our_checkpoint_and_its_export(trained, tmp_path):
    # the export has our logits, so answers sampled from either pass alike (not the same draws:
    # the Hugging Face scorer batches prompts in another order)
    step_dir, hf_dir = trained
    r = run_cli("eval", "--model", step_dir, "--model", hf_dir, "--tasks", "add1",
                "--out", tmp_path / "ev", "--n", "60", "--pass-until", "32")
    assert r.returncode == 0, r.stderr
    assert "log10 sampled pass probability" in r.stdout  # shown, not only stored
    res = read_results(tmp_path / "ev")
    pp = res[res["metric"] == "log_pass_prob"].set_index("model_id")
    assert len(pp) == 2 and pp["value"].notna().all()
    a, b = pp.iloc[0], pp.iloc[1]
    assert a["ci_low"] <= b["value"] <= a["ci_high"] or b["ci_low"] <= a["value"] <= b["ci_high"]
    # greedy scores are unchanged by asking for sampled ones
    em = res[res["metric"] == "exact_match"]["value"]
    assert em.iloc[0] == em.iloc[1]
    assert "at least 1" in _err(run_cli("eval", "--model", hf_dir, "--tasks", "add1", "--out",
                                        tmp_path / "e2", "--pass-until", "0"))
    assert not (tmp_path / "e2").exists()
