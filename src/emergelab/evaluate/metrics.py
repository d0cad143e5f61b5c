"""Per-example metrics and their aggregation with intervals and direction.

Every metric is computed from what a sample row stores (generated text, target, per-token
log-probabilities and argmax hits under teacher forcing), so any of them can be recomputed later
without the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import Levenshtein

from .intervals import bootstrap_mean_ci, wilson_ci
from .registry import REGISTRY


def levenshtein(a, b) -> int:
    """Edit distance (insertions, deletions, substitutions all cost 1) between two sequences
    (strings, or lists of tokens), by RapidFuzz's C implementation."""
    return Levenshtein.distance(a, b)


def example_metrics(answer_pred: str, answer_true: str, generated, target,
                    token_logprobs: list[float], token_hits: list[bool]) -> dict[str, float]:
    """All metrics of one example.

    answer_pred/answer_true are the normalised final answers (exact match compares them);
    generated/target are the raw outputs as the scorer's tokens (a string is its characters:
    our GPT's tokens), compared by edit distance; token_logprobs/token_hits are teacher-forced
    over the target's tokens.
    """
    dist = levenshtein(generated, target)
    n_tok = max(1, len(target))
    lp = float(sum(token_logprobs))
    return {
        "exact_match": float(answer_pred == answer_true),
        "token_edit_distance": float(dist),
        "token_edit_distance_norm": dist / n_tok,
        "token_accuracy": float(np.mean(token_hits)) if len(token_hits) else 0.0,
        "target_logprob": lp,
        "target_logprob_mean": lp / max(1, len(token_logprobs)),
    }


def multiple_choice_metrics(choice_logprobs: list[float], choice_scores: list[float]) -> dict[str, float]:
    """BIG-bench's multiple_choice_grade (the score of the option with the highest
    log-likelihood; ties go to the first) and the multi-class Brier score of the options'
    probabilities renormalised over the options, against the one-hot best option (0 is perfect,
    2 the worst); target_logprob is the log-likelihood of the best-scored option."""
    lp = np.asarray(choice_logprobs, dtype=float)
    scores = np.asarray(choice_scores, dtype=float)
    best = int(np.argmax(scores))
    p = np.exp(lp - lp.max())
    p /= p.sum()
    onehot = np.zeros_like(p)
    onehot[best] = 1.0
    return {"multiple_choice_grade": float(scores[int(np.argmax(lp))]),
            "brier_score": float(((p - onehot) ** 2).sum()),
            "target_logprob": float(lp[best])}


@dataclass
class Aggregate:
    metric: str
    value: float
    ci_low: float
    ci_high: float
    n: int
    higher_is_better: bool


def aggregate(metric: str, values: list[float], seed: int = 0, n_boot: int = 1000,
              level: float = 0.95) -> Aggregate:
    """Mean over examples with an interval: Wilson for proportions, percentile bootstrap else."""
    entry = REGISTRY[metric]
    higher, is_prop = entry.higher_is_better, entry.aggregation == "proportion"
    arr = np.asarray(values, dtype=float)
    n = int(arr.size)
    if n == 0:
        return Aggregate(metric, math.nan, math.nan, math.nan, 0, higher)
    mean = float(arr.mean())
    if is_prop:
        lo, hi = wilson_ci(int(round(arr.sum())), n, level)
    else:
        lo, hi = bootstrap_mean_ci(arr, n_boot=n_boot, level=level, seed=seed)
    return Aggregate(metric, mean, lo, hi, n, higher)
