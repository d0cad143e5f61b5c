"""Arithmetic skills: single-digit addition, multi-digit addition and multi-digit x one-digit
multiplication.

Operands are zero-padded to a fixed width and answers to the widest possible result, so every
answer digit has a fixed place. `reversed` writes the answer least-significant digit first, the
order in which the carries are computed (Lee et al. 2023, "Teaching arithmetic to small
transformers"); `plain` writes it the usual way; `scratchpad` (addition) writes the column sums
with their carries, least significant first, then `#` and the answer: exact match reads only the
answer after the last `#` (Nye et al. 2021 scratchpads); `spaced` asks the same question with
spaces around the operator and the equals sign (`123 + 456 =`) and answers as `plain` does.

The held-out split hashes the operands, not the prompt's text, so a held-out item stays held out
in every format: the `spaced` items of a run are its `plain` items re-written (a surface transfer
set that no training row ever showed in either format).
"""

from __future__ import annotations

import random

from .base import EVAL, TRAIN, Example, Task, stable_fraction
from .registry import register_task


def _fmt(value: int, width: int, reverse: bool) -> str:
    text = str(value).zfill(width)
    return text[::-1] if reverse else text


@register_task
class Add1(Task):
    name = "add1"
    description = "single-digit addition, e.g. 3+5= -> 8"
    eval_fraction = 0.2

    def sample(self, rng: random.Random) -> Example:
        a, b = rng.randrange(10), rng.randrange(10)
        s = str(a + b)
        return Example(f"{a}+{b}=", s, s, {"a": a, "b": b})


class _MultiDigit(Task):
    """Shared by the n-digit tasks: a digit count and the plain/reversed answer formats."""

    variants = ("plain", "reversed")
    eval_fraction = 0.1

    def __init__(self, variant: str = "plain", digits: int = 3) -> None:
        super().__init__(variant)
        if not 1 <= digits <= 12:
            raise ValueError(f"{self.name}: digits must be between 1 and 12, got {digits}")
        self.digits = digits

    def split_of(self, example: Example) -> str:
        if "a" not in example.meta:  # an item not of this generator: by its text
            return super().split_of(example)
        # the plain prompt's text, so every format of an item falls on the same side
        key = f"{self.name}|{self.plain_prompt(example.meta['a'], example.meta['b'])}"
        return EVAL if stable_fraction(key) < self.eval_fraction else TRAIN

    def transfer_task(self, kind: str) -> Task:
        if kind == "surface" and self.surface_variant:
            return type(self)(self.surface_variant, self.digits)
        if kind == "harder" and self.digits < 12:
            return type(self)(self.variant, self.digits + 1)
        return super().transfer_task(kind)

    @property
    def surface_variant(self) -> str | None:
        return None

    def plain_prompt(self, a: int, b: int) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


@register_task
class Add(_MultiDigit):
    name = "add"
    variants = ("plain", "reversed", "scratchpad", "spaced")
    description = ("n-digit addition, e.g. 123+456= -> 0579 (reversed: 9750; scratchpad: "
                   "3+6+0=9;2+5+0=7;1+4+0=5;#0579; spaced: 123 + 456 = -> 0579)")
    worked_variant = "scratchpad"

    @property
    def transfer_sets(self) -> tuple[str, ...]:
        return ("fresh", "surface", "harder") if self.surface_variant else ("fresh", "harder")

    @property
    def surface_variant(self) -> str | None:
        return "spaced" if self.variant == "plain" else None

    def plain_prompt(self, a: int, b: int) -> str:
        return f"{a:0{self.digits}d}+{b:0{self.digits}d}="

    def sample(self, rng: random.Random) -> Example:
        hi = 10**self.digits
        a, b = rng.randrange(hi), rng.randrange(hi)
        s = _fmt(a + b, self.digits + 1, self.variant == "reversed")
        prompt = self.plain_prompt(a, b)
        if self.variant == "spaced":
            return Example(f"{a:0{self.digits}d} + {b:0{self.digits}d} =", s, s, {"a": a, "b": b})
        if self.variant != "scratchpad":
            return Example(prompt, s, s, {"a": a, "b": b})
        steps, carry = [], 0
        for i in range(self.digits):  # column by column, as written by hand
            x, y = a // 10**i % 10, b // 10**i % 10
            steps.append(f"{x}+{y}+{carry}={x + y + carry}")
            carry = (x + y + carry) // 10
        return Example(prompt, ";".join(steps) + f";#{s}", s, {"a": a, "b": b})

    def extract_answer(self, generated: str) -> str:
        return generated.rsplit("#", 1)[-1] if self.variant == "scratchpad" else generated


@register_task
class Mul(_MultiDigit):
    name = "mul"
    transfer_sets = ("fresh", "harder")
    description = "n-digit x 1-digit multiplication, e.g. 123*7= -> 0861"

    def plain_prompt(self, a: int, b: int) -> str:
        return f"{a:0{self.digits}d}*{b}="

    def sample(self, rng: random.Random) -> Example:
        a, b = rng.randrange(10**self.digits), rng.randrange(10)
        p = _fmt(a * b, self.digits + 1, self.variant == "reversed")
        return Example(self.plain_prompt(a, b), p, p, {"a": a, "b": b})
