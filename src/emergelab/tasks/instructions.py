"""Instruction following, zero-shot: an operation named in words, applied to a short string.

`reverse: kqbm` -> `mbqk`, `sort: kqbm` -> `bkmq`, `count b: abcb` -> `2`, `upper: kqb` -> `KQB`,
`first: kqb` -> `k`, `last: kqb` -> `b`, and compositions of two (`reverse upper: kqb` -> `BQK`).
No demonstration is in the prompt: the model must read the instruction. Held out from training:
the single-op instances of the eval split (a hash of the prompt) and, entirely, a fixed third of
the two-op instructions, so the eval asks for compositions never trained on (compositional
generalisation); variant `seen` evaluates only on instructions seen in training.
"""

from __future__ import annotations

import random

from .base import EVAL, Example, Task, stable_fraction
from .registry import register_task

LETTERS = "abcdefghij"
OPS = {
    "reverse": lambda s: s[::-1],
    "sort": lambda s: "".join(sorted(s)),
    "upper": lambda s: s.upper(),
    "first": lambda s: s[0],
    "last": lambda s: s[-1],
}


@register_task
class Instruct(Task):
    name = "instruct"
    variants = ("heldout", "seen")
    description = "apply a worded instruction zero-shot, e.g. 'reverse upper: kqb' -> BQK"
    eval_fraction = 0.2

    def __init__(self, variant: str = "heldout", heldout_share: float = 0.34) -> None:
        super().__init__(variant)
        self.composed = [(a, b) for a in OPS for b in OPS if a != b]
        self.heldout = {c for c in self.composed
                        if stable_fraction(f"instruct|{c[0]} {c[1]}") < heldout_share}

    def _instance(self, rng: random.Random, ops: tuple[str, ...]) -> Example:
        s = "".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 6)))
        out = s
        for op in ops:
            out = OPS[op](out)
        return Example(f"{' '.join(ops)}: {s}=", out, out, {"ops": ops})

    def sample(self, rng: random.Random) -> Example:
        if rng.random() < 0.4:
            return self._instance(rng, (rng.choice(list(OPS)),))
        return self._instance(rng, rng.choice(self.composed))

    def split_of(self, example: Example) -> str:
        ops = example.meta["ops"]
        if len(ops) == 2 and ops in self.heldout:
            return EVAL  # never trained on
        return super().split_of(example)

    def eval_set(self, n: int, seed: int) -> list[Example]:
        rng = random.Random(f"eval|{self.name}|{seed}")
        pool = sorted(self.heldout) if self.variant == "heldout" else [
            c for c in self.composed if c not in self.heldout]
        seen: dict[str, Example] = {}
        for _ in range(50 * n):
            if len(seen) >= n:
                break
            ex = self._instance(rng, rng.choice(pool))
            if self.split_of(ex) == EVAL:
                seen.setdefault(ex.prompt, ex)
        return list(seen.values())

    def normalize(self, text: str) -> str:
        return text.strip()

    def answer_alphabet(self) -> str:
        return LETTERS + LETTERS.upper()

