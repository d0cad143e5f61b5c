"""Modular addition with a limited training set: the grokking setting (Power et al. 2022).

A share of all pairs (a hash split, half by default) is ever trained on; with strong weight
decay a model first memorises them (train accuracy near 1 early) and generalises to the others
much later: an ability that emerges along training steps, not size. Variant `test` evaluates
held-out pairs, `train` evaluates trained pairs (give it weight 0 to only measure it).

Each residue is one opaque symbol (0-9, A-Z, a-z), as in Power et al.'s one-hot tokens: written
in decimal digits the sum leaks its structure through the digits and a model generalises at
once, with no memorisation phase (a 1-layer d=128 model trained on 50% of decimal p=59 pairs
reached 0.76 held-out vs 0.84 train accuracy at the same step).
"""

from __future__ import annotations

import random
import string

from .base import EVAL, TRAIN, Example, Task
from .registry import register_task

SYMBOLS = string.digits + string.ascii_uppercase + string.ascii_lowercase


@register_task
class ModAdd(Task):
    name = "modadd"
    variants = ("test", "train")
    description = "a+b mod p over opaque symbols, part of the pairs held out, e.g. m:C+o= -> 3"

    def __init__(self, variant: str = "test", modulus: int = 59, train_percent: int = 50) -> None:
        super().__init__(variant)
        if not 2 <= modulus <= len(SYMBOLS) or not 1 <= train_percent <= 99:
            raise ValueError(f"modadd: modulus must be 2..{len(SYMBOLS)} and train_percent 1..99")
        self.p = modulus
        self.eval_fraction = 1 - train_percent / 100

    def _example(self, a: int, b: int) -> Example:
        v = SYMBOLS[(a + b) % self.p]
        return Example(f"m:{SYMBOLS[a]}+{SYMBOLS[b]}=", v, v, {"a": a, "b": b})

    def sample(self, rng: random.Random) -> Example:
        return self._example(rng.randrange(self.p), rng.randrange(self.p))

    def answer_alphabet(self) -> str:
        return SYMBOLS[:self.p]

    def eval_set(self, n: int, seed: int) -> list[Example]:
        """Distinct pairs of the variant's split (the split hashes the prompt, not the variant,
        so both variants agree on which pairs are trained)."""
        want = TRAIN if self.variant == "train" else EVAL
        every = [self._example(a, b) for a in range(self.p) for b in range(self.p)]
        chosen = [e for e in every if self.split_of(e) == want]
        rng = random.Random(f"eval|{self.name}|{seed}")
        return chosen if n >= len(chosen) else rng.sample(chosen, n)
