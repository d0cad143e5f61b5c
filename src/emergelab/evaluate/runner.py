"""Evaluate one checkpoint on a set of tasks: samples (one row per example) and results (one row
per task x metric, with interval and baseline)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..tasks import Example, Task
from .metrics import aggregate, example_metrics, multiple_choice_metrics
from .registry import GENERATIVE, MULTIPLE_CHOICE


@dataclass
class EvalTask:
    """A task with its fixed held-out examples and baselines, at a number of shots (the
    examples' prompts then carry the demonstrations: tasks/fewshot.py)."""

    task: Task
    examples: list[Example]
    baselines: dict[str, float]
    shots: int = 0
    # what the rows' variant column says: the task's variant, or for a transfer set in a
    # recipe study the variant it transfers from and the set ("plain-fresh")
    label: str | None = None
    pass_until: int | None = None  # sampled answers per example at most (log_pass_prob)

    @property
    def variant(self) -> str:
        return self.label or self.task.variant

    @classmethod
    def build(cls, task: Task, n: int, seed: int, shots: int = 0,
              examples: list[Example] | None = None, label: str | None = None,
              pass_until: int | None = None) -> "EvalTask":
        from ..tasks.fewshot import with_shots

        examples = task.eval_set(n, seed) if examples is None else examples
        if pass_until and examples and examples[0].is_multiple_choice:
            raise UserError(f"{task.name}: pass_until samples written answers; this task's "
                            "examples are multiple choice")
        return cls(task, with_shots(task, examples, shots, seed), task.baselines(examples, seed),
                   shots, label, pass_until)


def sample_metrics(task: Task, generated: str, ex_target: str, ex_answer: str,
                   token_logprobs, token_hits, choice_logprobs=None,
                   choice_scores=None, tokenize=None) -> dict[str, float]:
    """Metrics of one stored sample; used both at evaluation and when re-scoring samples.
    tokenize: the scorer's tokens of a text (default its characters, our GPT's tokens), the
    unit of the token metrics."""
    if choice_logprobs is not None and len(choice_logprobs):
        return multiple_choice_metrics(list(choice_logprobs), list(choice_scores))
    pred = task.normalize(task.extract_answer(generated))
    tokenize = tokenize or list
    return example_metrics(pred, task.normalize(ex_answer), tokenize(generated),
                           tokenize(ex_target), list(token_logprobs), list(token_hits))


def _generative_samples(scorer, et: EvalTask) -> list[dict]:
    exs = et.examples
    tf = scorer.teacher_forced(exs)
    gens = scorer.generate([e.prompt for e in exs], [e.target for e in exs],
                           et.task.generation_budget, tuple(et.task.stop_sequences))
    return [{"example_id": k, "prompt": e.prompt, "target": e.target, "answer": e.answer,
             "generated": g, "token_logprobs": [float(x) for x in lps],
             "token_hits": [bool(x) for x in hits], "choice_logprobs": [], "choice_scores": []}
            for k, (e, g, (lps, hits)) in enumerate(zip(exs, gens, tf))]


def _multiple_choice_samples(scorer, et: EvalTask) -> list[dict]:
    exs = et.examples
    all_lps = scorer.choice_logprobs([(e.prompt, list(e.choices)) for e in exs])
    out = []
    for k, (e, lps) in enumerate(zip(exs, all_lps)):
        best = int(np.argmax(e.choice_scores))
        out.append({"example_id": k, "prompt": e.prompt, "target": e.choices[best],
                    "answer": e.choices[best], "generated": e.choices[int(np.argmax(lps))],
                    "token_logprobs": [float(lps[best])], "token_hits": [],
                    "choice_logprobs": [float(x) for x in lps],
                    "choice_scores": [float(x) for x in e.choice_scores]})
    return out


def evaluate_model(scorer, eval_tasks: list[EvalTask], seed: int = 0, n_boot: int = 1000,
                   level: float = 0.95):
    """Returns (samples, results): lists of dicts without run/model columns. `scorer` is a
    CharScorer (our GPT) or an HFScorer (any Hugging Face causal LM)."""
    samples, results = [], []
    for et in eval_tasks:
        mc = et.examples[0].is_multiple_choice
        rows = (_multiple_choice_samples if mc else _generative_samples)(scorer, et)
        per_metric: dict[str, list[float]] = {m: [] for m in (MULTIPLE_CHOICE if mc else GENERATIVE)}
        for row in rows:
            ms = sample_metrics(et.task, row["generated"], row["target"], row["answer"],
                                row["token_logprobs"], row["token_hits"],
                                row["choice_logprobs"], row["choice_scores"],
                                getattr(scorer, "tokenize", None))
            for m, v in ms.items():
                per_metric[m].append(v)
            samples.append({"task": et.task.name, "variant": et.variant, "shots": et.shots, **row})
        for m, vals in per_metric.items():
            agg = aggregate(m, vals, seed=seed, n_boot=n_boot, level=level)
            results.append({"task": et.task.name, "variant": et.variant, "shots": et.shots,
                            "metric": m, "value": agg.value, "ci_low": agg.ci_low,
                            "ci_high": agg.ci_high, "n": agg.n,
                            "baseline": et.baselines[m], "higher_is_better": agg.higher_is_better})
        if getattr(scorer, "char_level", False):
            for extra in et.task.extra_metrics(scorer, et.examples):
                results.append({"task": et.task.name, "variant": et.variant, "shots": et.shots,
                                "ci_low": np.nan, "ci_high": np.nan, **extra})
        if et.pass_until and not mc:
            results.append(_pass_until_row(scorer, et, seed, level))
        if hasattr(et.task, "stored_bits"):
            correct = [v == 1.0 for v in per_metric["exact_match"]]
            bits = et.task.stored_bits(et.examples, correct)
            results.append({"task": et.task.name, "variant": et.variant, "shots": et.shots,
                            "metric": "stored_bits", "value": float(bits), "ci_low": np.nan,
                            "ci_high": np.nan, "n": len(et.examples), "baseline": 0.0,
                            "higher_is_better": True})
    return samples, results


def _pass_until_row(scorer, et: EvalTask, seed: int, level: float) -> dict:
    """The task's log_pass_prob: answers sampled until correct twice (evaluate/pass_until.py)."""
    from .pass_until import sample_until_correct

    pu = sample_until_correct(scorer, et.task, et.examples, et.pass_until, seed)
    value, lo, hi = pu.estimate(level, seed=seed)
    chance = et.baselines.get("exact_match", 0.0)
    return {"task": et.task.name, "variant": et.variant, "shots": et.shots,
            "metric": "log_pass_prob", "value": value, "ci_low": lo, "ci_high": hi,
            "n": len(et.examples), "baseline": math.log10(chance) if chance > 0 else np.nan,
            "higher_is_better": True}
