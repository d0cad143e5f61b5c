"""U-shaped scaling from a distractor subtask (Wei et al. 2022, "Inverse scaling can become
U-shaped"; the Inverse Scaling Prize's redefine-math).

Two tables over pairs mod p: P(a, b) = (a + b) mod p, asked as `P:12+30=` in most training rows,
and R, equal to P except on a fixed share of redefined pairs, asked as `R:12+30=` in the rest. The
evaluation asks R on redefined pairs and scores the two candidate answers by log-likelihood:
`multiple_choice_grade` is the share where the model prefers R's answer over P's. A small model
guesses (about half); a middle one has learned the common rule P but not R's exceptions and
prefers P's answer, below guessing (the distractor wins); a large one has also stored the
exceptions. The exceptions are learned by memorisation, so they are evaluated as trained, like
facts.
"""

from __future__ import annotations

import random

from .base import Example, Task, stable_fraction
from .registry import register_task


@register_task
class Distractor(Task):
    name = "distractor"
    description = "redefined modular addition: R:a+b= differs from the common P:a+b= on some pairs"
    memorisation = True

    def __init__(self, variant: str = "plain", modulus: int = 47, redefined: float = 0.2,
                 r_share: int = 10) -> None:
        super().__init__(variant)
        if not 2 <= modulus <= 1000 or not 0 < redefined < 1 or not 0 < r_share < 100:
            raise ValueError("distractor: need 2 <= modulus <= 1000, 0 < redefined < 1 and "
                             "0 < r_share < 100 (percent of rows asking R)")
        self.p, self.r_share = modulus, r_share / 100
        self.redefined: dict[tuple[int, int], int] = {}
        for a in range(modulus):
            for b in range(modulus):
                key = f"distractor|{modulus}|{a}|{b}"
                if stable_fraction(key) < redefined:
                    shift = 1 + int(stable_fraction(key + "|shift") * (modulus - 1))
                    self.redefined[(a, b)] = (a + b + shift) % modulus  # never equal to P
        self.exceptions = sorted(self.redefined)

    def _r(self, a: int, b: int) -> int:
        return self.redefined.get((a, b), (a + b) % self.p)

    def sample(self, rng: random.Random) -> Example:
        if rng.random() < self.r_share:
            # half of the R rows ask a redefined pair, so the exceptions are seen often enough
            a, b = (rng.choice(self.exceptions) if rng.random() < 0.5
                    else (rng.randrange(self.p), rng.randrange(self.p)))
            v = str(self._r(a, b))
            return Example(f"R:{a}+{b}=", v, v)
        a, b = rng.randrange(self.p), rng.randrange(self.p)
        v = str((a + b) % self.p)
        return Example(f"P:{a}+{b}=", v, v)

    def eval_set(self, n: int, seed: int) -> list[Example]:
        rng = random.Random(f"eval|{self.name}|{seed}")
        pairs = self.exceptions if n >= len(self.exceptions) else rng.sample(self.exceptions, n)
        out = []
        for a, b in pairs:
            r, p = str(self._r(a, b)), str((a + b) % self.p)
            out.append(Example(f"R:{a}+{b}=", r, r, {}, (r, p), (1.0, 0.0)))
        return out

    def baselines(self, examples: list[Example], seed: int = 0,
                  tokenize=None) -> dict[str, float]:
        # a guess that does not know which answer is which: half right, Brier 0.5, log 1/2
        import math

        return {"multiple_choice_grade": 0.5, "brier_score": 0.5, "target_logprob": math.log(0.5)}
