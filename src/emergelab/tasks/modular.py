"""Modular addition with a limited training set: the grokking setting (Power et al. 2022).

Half of all pairs (a hash split) are ever trained on; with strong weight decay a model first
memorises them (train accuracy near 1 early) and generalises to the other half much later: an
ability that emerges along training steps, not size. Variant `test` evaluates held-out pairs,
`train` evaluates trained pairs (give it weight 0 to only measure it).
"""

from __future__ import annotations

import random

from .base import EVAL, TRAIN, Example, Task


class ModAdd(Task):
    name = "modadd"
    variants = ("test", "train")
    description = "a+b mod p with half the pairs held out, e.g. m:12+50= -> 3 (p = 59)"
    eval_fraction = 0.5

    def __init__(self, variant: str = "test", modulus: int = 59) -> None:
        super().__init__(variant)
        if not 2 <= modulus <= 1000:
            raise ValueError("modadd: modulus must be between 2 and 1000")
        self.p = modulus

    def sample(self, rng: random.Random) -> Example:
        a, b = rng.randrange(self.p), rng.randrange(self.p)
        v = str((a + b) % self.p)
        return Example(f"m:{a}+{b}=", v, v)

    def eval_set(self, n: int, seed: int) -> list[Example]:
        """Distinct pairs of the variant's split (the split hashes the prompt, not the variant,
        so both variants agree on which pairs are trained)."""
        want = TRAIN if self.variant == "train" else EVAL
        every = [Example(f"m:{a}+{b}=", str((a + b) % self.p), str((a + b) % self.p))
                 for a in range(self.p) for b in range(self.p)]
        chosen = [e for e in every if self.split_of(e) == want]
        rng = random.Random(f"eval|{self.name}|{seed}")
        return chosen if n >= len(chosen) else rng.sample(chosen, n)
