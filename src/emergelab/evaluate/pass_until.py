"""High-resolution evaluation: sample answers until correct (after Hu et al., ICLR 2024,
"Predicting emergent abilities with infinite resolution evaluation", PassUntil).

Greedy exact match reads 0 until a model is nearly there; sampling each example at temperature 1
until it has been answered correctly twice, or a budget of B answers, measures pass
probabilities far below 1/n. Draws go in rounds over the examples still open (1, 1, 2, 4, ...
answers each, never past the budget), from one seeded random stream, so a checkpoint's estimate
is reproducible.

The estimate, `log_pass_prob`, is log10 of the mean over examples of each one's pass
probability p_i (the expected pass@1 of one sampled answer). Sampling until the second success
makes K_i, the answers drawn, negative-binomial, and 1 / (K_i - 1) is an unbiased estimate of p_i
(Haldane 1945); an example still open at the budget counts its successes over B (0 or 1 / B).
Two successes, not one: after a single success no unbiased estimate exists (1 / K overstates a
small p several-fold). The interval is a percentile bootstrap over examples. With nothing solved
the value is missing (analysis leaves the point out) and the interval's upper end is Clopper and
Pearson's bound for one p shared by every example.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import beta

from ..errors import UserError

SUCCESSES = 2  # stop an example after this many correct answers


@dataclass(frozen=True)
class PassUntil:
    """Per example: the answers drawn (up to its second correct one) and the correct ones."""

    draws: np.ndarray    # answers sampled per example
    hits: np.ndarray     # correct answers among them (0, 1 or 2)
    budget: int

    def per_example(self) -> np.ndarray:
        """Each example's pass-probability estimate: 1 / (K - 1) after two successes (unbiased
        under negative-binomial sampling), else its successes over the answers drawn."""
        done = self.hits >= SUCCESSES
        return np.where(done, 1.0 / np.maximum(self.draws - 1, 1), self.hits / self.draws)

    def estimate(self, level: float = 0.95, n_boot: int = 2000,
                 seed: int = 0) -> tuple[float, float, float]:
        """(log10 mean p, low, high) at `level`; NaN where the estimate or an end is 0."""
        p = self.per_example()
        if not (p > 0).any():  # nothing solved: the exact bound for a shared p
            d = int(self.draws.sum())
            return float("nan"), float("nan"), math.log10(beta.ppf(1 - (1 - level) / 2, 1, d))
        rng = np.random.default_rng(seed)
        means = p[rng.integers(0, len(p), size=(n_boot, len(p)))].mean(1)
        a = (1 - level) / 2
        lo, hi = np.quantile(means, [a, 1 - a])
        return (math.log10(p.mean()), math.log10(lo) if lo > 0 else float("nan"),
                math.log10(hi))


def rounds(budget: int) -> list[int]:
    """Answers per unsolved example in each round: 1, 1, 2, 4, ... summing to the budget."""
    out, total, size = [], 0, 1
    while total < budget:
        k = min(size, budget - total)
        out.append(k)
        total += k
        size = size if len(out) < 2 else size * 2
    return out


def sample_until_correct(scorer, task, examples, budget: int, seed: int) -> PassUntil:
    """Sample each example's answer (temperature 1) until it was correct twice or `budget`
    answers were drawn. Correct means what exact match means: the task's normalised extracted
    answer equals the example's."""
    if budget < 1:
        raise UserError(f"pass_until must be at least 1 sampled answer, not {budget}")
    if not hasattr(scorer, "sample_generator"):
        raise UserError("high-resolution evaluation (pass_until) needs a scorer that samples answers")
    gen = scorer.sample_generator(seed)
    n = len(examples)
    draws, hits = np.zeros(n, int), np.zeros(n, int)
    want = [task.normalize(e.answer) for e in examples]
    for k in rounds(budget):
        todo = [i for i in range(n) if hits[i] < SUCCESSES]
        if not todo:
            break
        prompts = [examples[i].prompt for i in todo for _ in range(k)]
        targets = [examples[i].target for i in todo for _ in range(k)]
        outs = scorer.generate(prompts, targets, task.generation_budget,
                               tuple(task.stop_sequences), generator=gen)
        for j, i in enumerate(todo):
            for o in outs[j * k:(j + 1) * k]:  # answers past the second success are not needed
                draws[i] += 1
                hits[i] += task.normalize(task.extract_answer(o)) == want[i]
                if hits[i] == SUCCESSES:
                    break
    return PassUntil(draws, hits, budget)
