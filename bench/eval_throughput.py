"""Log-likelihood scoring rate: EmergeLab's HFScorer against lm-evaluation-harness, in one run.

Both score the same multiple-choice task (every option's log-likelihood after the prompt) on the
same in-memory Hugging Face model and tokenizer, at the same batch size, on the CPU. Timed, on
both sides alike: building the task from its file on disk and evaluating it (lm-eval:
`simple_evaluate` with a ready HFLM, which reads the exported YAML and JSONL each call; ours:
`tasks_from_specs` on the same JSONL, then `evaluate_model`, including metrics and bootstrap
intervals). Loading the model is outside the timer on both sides. Models are randomly initialised GPT-2s with a BPE tokenizer trained here,
so nothing is downloaded. Both must report the same accuracy, or the run fails.

Usage: python bench/eval_throughput.py [--examples 400] [--options 4] [--batch-size 32]
       [--repeats 3] [--sizes tiny,small]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch

SIZES = {"tiny": dict(n_embd=64, n_layer=2, n_head=2), "small": dict(n_embd=256, n_layer=4, n_head=4),
         "medium": dict(n_embd=512, n_layer=8, n_head=8)}


def bpe_tokenizer(corpus: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=2000, special_tokens=["<unk>", "<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<|endoftext|>",
                                   eos_token="<|endoftext|>", unk_token="<unk>")


def mc_examples(n: int, k: int, seed: int = 0) -> list[dict]:
    """Arithmetic questions with a short worked context and k numeric options."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = rng.randint(10, 999), rng.randint(10, 999)
        shots = " ".join(f"{x} plus {y} is {x + y}." for x, y in
                         ((rng.randint(1, 99), rng.randint(1, 99)) for _ in range(3)))
        options = [a + b] + rng.sample([a + b + d for d in range(-20, 21) if d], k - 1)
        rng.shuffle(options)
        out.append({"prompt": f"{shots} Question: what is {a} plus {b}? Answer:",
                    "choices": [f" {o}" for o in options], "label": options.index(a + b)})
    return out


WORDS = ("the a man woman dog child ball kitchen knife water garden slowly quickly then picks "
         "up puts down walks runs into out of over under table chair door window car road "
         "cuts pours opens closes throws catches bowl pan oven rope ladder paint wall").split()


def ending_examples(n: int, k: int, seed: int = 0) -> list[dict]:
    """HellaSwag's shape: a context of ~40 words and k endings of 8-16 words each (multi-token
    options, the common case for log-likelihood benchmarks)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        ctx = " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 50))) + "."
        endings = [" " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))) + "."
                   for _ in range(k)]
        out.append({"prompt": ctx, "choices": endings, "label": rng.randrange(k)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=400)
    ap.add_argument("--options", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", default="tiny,small")
    ap.add_argument("--shapes", default="endings,numeric",
                    help="endings: multi-token options (HellaSwag-like); numeric: one-token options")
    args = ap.parse_args()
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    import json

    import transformers
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from emergelab.evaluate.external import tasks_from_specs
    from emergelab.evaluate.hf_scoring import HFScorer
    from emergelab.evaluate.runner import evaluate_model
    from emergelab.export.lmeval import export_lmeval_tasks

    logging.disable(logging.WARNING)
    transformers.logging.set_verbosity_error()
    work = Path(tempfile.mkdtemp(prefix="eval-bench-"))
    shapes = {}
    for shape in args.shapes.split(","):
        make = ending_examples if shape == "endings" else mc_examples
        shapes[shape] = make(args.examples, args.options)
    tok = bpe_tokenizer([r["prompt"] + c for rows in shapes.values() for r in rows
                         for c in r["choices"]])
    tasks, paths = {}, {}
    for shape, rows in shapes.items():
        data = work / f"bench_{shape}.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        (et,) = tasks_from_specs([str(data)], args.examples, 0)
        export_lmeval_tasks([et], work / "tasks")
        paths[shape] = data
        ctx = sum(len(tok(r["prompt"])["input_ids"]) for r in rows) / len(rows)
        opt = sum(len(tok(c, add_special_tokens=False)["input_ids"]) for r in rows
                  for c in r["choices"]) / (len(rows) * args.options)
        tasks[shape] = et
        print(f"shape {shape}: context {ctx:.0f} tokens, options {opt:.1f} tokens on average")
    tm = TaskManager(include_path=str(work / "tasks"))
    n_req = args.examples * args.options
    print(f"{args.examples} questions x {args.options} options = {n_req} log-likelihood requests, "
          f"batch size {args.batch_size}, {torch.get_num_threads()} threads")
    for size in args.sizes.split(","):
        torch.manual_seed(0)
        cfg = transformers.GPT2Config(vocab_size=len(tok), n_positions=256, **SIZES[size],
                                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
        model = transformers.GPT2LMHeadModel(cfg).eval()
        n_params = sum(p.numel() for p in model.parameters())
        lm = HFLM(pretrained=model, tokenizer=tok, batch_size=args.batch_size, device="cpu")
        for shape in tasks:
            ours_t, theirs_t = [], []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                built = tasks_from_specs([str(paths[shape])], args.examples, 0)
                _, res = evaluate_model(HFScorer(model, tok, args.batch_size), built, n_boot=1000)
                ours_t.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                out = simple_evaluate(model=lm, tasks=[f"emergelab_bench_{shape}"],
                                      task_manager=tm, log_samples=False, verbosity="ERROR")
                theirs_t.append(time.perf_counter() - t0)
            ours_acc = next(r["value"] for r in res if r["metric"] == "multiple_choice_grade")
            their_acc = out["results"][f"emergelab_bench_{shape}"]["acc,none"]
            assert abs(ours_acc - their_acc) < 1e-9, (ours_acc, their_acc)
            o, t = statistics.median(ours_t), statistics.median(theirs_t)
            print(f"{size:6s} {n_params / 1e6:5.2f}M params, {shape:8s}: ours {o:6.2f} s "
                  f"({n_req / o:6.0f} req/s), lm-eval {t:6.2f} s ({n_req / t:6.0f} req/s), "
                  f"ratio {t / o:4.2f}x (accuracy {ours_acc:.3f} both)", flush=True)


if __name__ == "__main__":
    main()
