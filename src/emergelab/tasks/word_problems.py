"""Multi-step word problems in the style of GSM8K's easiest items.

`direct` asks for the number straight away; `cot` puts the intermediate steps in the target
before the answer ("2*3=6;5+6=11;#11"), and exact match is judged on the final answer only.
Two styles: `story` (three templates of two steps, `steps = 3` adds a third) and `chain` (a count
changed `steps` times: finds 1-9 more, loses some, doubles, triples). Problems are held out by
their numbers, so a direct answer must be computed, not recalled from the same sum told about
someone else.

Measured here (docs/phenomena.md), up to 0.45M parameters: on two-step stories direct answers
turn on first (~17K parameters, worked steps ~97K) — copying each step out exactly is the harder
task for small models, and two one-digit lookups fit in one pass. On four-step chains (1200 steps)
worked steps turn on at ~100K while direct answers stay at 0.06-0.13 up to 0.45M: four chained
lookups do not fit in one pass of these models.
"""

from __future__ import annotations

import random

from .base import EVAL, TRAIN, Example, Task, stable_fraction
from .registry import register_task

PEOPLE = [("Roger", "He", "he"), ("Maria", "She", "she"), ("Tom", "He", "he"), ("Ana", "She", "she"),
          ("Ravi", "He", "he"), ("Lena", "She", "she"), ("Omar", "He", "he"), ("Yuki", "She", "she")]
THINGS = ["ball", "apple", "pen", "card", "shell", "coin"]


@register_task
class WordProblem(Task):
    name = "word_problem"
    variants = ("direct", "cot")
    description = ("two- or three-step word problems, e.g. 'Roger has 5 balls. He buys 2 packs of 3 "
                   "balls each...'")
    eval_fraction = 0.2
    worked_variant = "cot"
    transfer_sets = ("fresh", "harder")

    def transfer_task(self, kind: str) -> Task:
        limit = 3 if self.style == "story" else 8
        if kind == "harder" and self.steps < limit:  # one reasoning step more
            return WordProblem(self.variant, self.m, self.steps + 1, self.style)
        return super().transfer_task(kind)

    def __init__(self, variant: str = "direct", max_operand: int = 9, steps: int = 2,
                 style: str = "story") -> None:
        super().__init__(variant)
        if style not in ("story", "chain"):
            raise ValueError("word_problem: style must be 'story' or 'chain'")
        if not 9 <= max_operand <= 999:
            raise ValueError("word_problem: max_operand must be between 9 and 999")
        if style == "story" and steps not in (2, 3):
            raise ValueError("word_problem: a story has 2 or 3 steps")
        if style == "chain" and not (2 <= steps <= 8 and max_operand == 9):
            raise ValueError("word_problem: a chain has 2 to 8 steps and one-digit operands")
        # 9 keeps every step a small table a model can learn; 99 makes each step real arithmetic
        self.m = max_operand
        # a third step deepens the composition a direct answer must do in one pass
        self.steps = steps
        # story: three templates of two or three steps; chain: one running count changed `steps`
        # times, so a direct answer must compose that many lookups in one forward pass
        self.style = style

    def sample(self, rng: random.Random) -> Example:
        if self.style == "chain":
            return self._chain(rng)
        name, He, he = rng.choice(PEOPLE)
        thing = rng.choice(THINGS)
        kind = rng.randrange(3)
        m = self.m
        if kind == 0:
            a, b, c = rng.randint(2, m), rng.randint(2, 5), rng.randint(2, m)
            text = f"{name} has {a} {thing}s. {He} buys {b} packs of {c} {thing}s each."
            ops = [(b, "*", c), (a, "+", None)]
        elif kind == 1:
            a = rng.randint(5, m)
            b, c = rng.randint(1, a - 1), rng.randint(2, m)
            text = f"{name} has {a} {thing}s. {He} gives away {b} and then finds {c} more."
            ops = [(a, "-", b), (None, "+", c)]
        else:
            a, b = rng.randint(2, 5), rng.randint(2, m)
            c = rng.randint(1, a * b - 1)
            text = f"{name} buys {a} boxes of {b} {thing}s and eats {c}."
            ops = [(a, "*", b), (None, "-", c)]
        numbers = [a, b, c]
        if self.steps == 3:
            _, value = _work_out(ops)
            if kind == 1:  # the pile is doubled or tripled
                d = rng.randint(2, 3)
                text += f" Then {he} trades each {thing} for {d}."
                ops.append((None, "*", d))
            else:  # some are lost again, never more than there are
                d = rng.randint(1, min(m, value))
                text += f" Then {he} loses {d}."
                ops.append((None, "-", d))
            numbers.append(d)
        steps, value = _work_out(ops)
        prompt = f"Q: {text} How many {thing}s {'are left' if kind == 2 else f'does {he} have'}? A:"
        # The split hashes the numbers, the same for both variants: direct and cot hold out the
        # same problems.
        target = str(value) if self.variant == "direct" else ";".join(steps) + f";#{value}"
        return Example(prompt, target, str(value), {"template": kind, "numbers": tuple(numbers)})

    def _chain(self, rng: random.Random) -> Example:
        """A count of 2-9 changed step by step: finds 1-9 more, loses some, doubles, triples;
        it stays between 1 and 99."""
        name, He, he = rng.choice(PEOPLE)
        thing = rng.choice(THINGS)
        value = rng.randint(2, 9)
        text, ops = f"{name} has {value} {thing}s.", []
        for _ in range(self.steps):
            moves = [m for m, ok in (("+", value <= 90), ("-", value >= 2), ("*2", 2 * value <= 99),
                                     ("*3", 3 * value <= 99)) if ok]
            move = rng.choice(moves)
            if move == "+":
                d = rng.randint(1, 9)
                text += f" {He} finds {d} more."
            elif move == "-":
                d = rng.randint(1, min(9, value - 1))
                text += f" {He} loses {d}."
            else:
                d = int(move[1])
                text += f" {He} {'doubles' if d == 2 else 'triples'} them."
            ops.append((value if not ops else None, move[0], d))
            value = _work_out(ops)[1]
        steps, value = _work_out(ops)
        prompt = f"Q: {text} How many {thing}s does {he} have? A:"
        target = str(value) if self.variant == "direct" else ";".join(steps) + f";#{value}"
        # held out by the start and the moves, whoever tells the story
        numbers = (ops[0][0],) + tuple(f"{op}{d}" for _, op, d in ops)
        return Example(prompt, target, str(value), {"template": "chain", "numbers": numbers})

    def split_of(self, example: Example) -> str:
        """Held out by the arithmetic, not the wording: a problem whose numbers were trained under
        another name or object would let a direct answer be recalled instead of computed."""
        key = f"{self.name}|{example.meta['template']}|{example.meta['numbers']}"
        return EVAL if stable_fraction(key) < self.eval_fraction else TRAIN

    def extract_answer(self, generated: str) -> str:
        return generated.rsplit("#", 1)[-1] if self.variant == "cot" else generated

    def answer_alphabet(self) -> str:
        return "0123456789" if self.variant == "direct" else "0123456789+-*=;#"


def _work_out(ops: list[tuple]) -> tuple[list[str], int]:
    """Run (x, op, y) steps left to right, None standing for the value so far: the worked
    equations ("2*3=6") and the final value."""
    steps, value = [], None
    for x, op, y in ops:
        x, y = (value if x is None else x), (value if y is None else y)
        value = x * y if op == "*" else x + y if op == "+" else x - y
        steps.append(f"{x}{op}{y}={value}")
    return steps, value
