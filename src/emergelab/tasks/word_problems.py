"""Templated multi-step word problems in the style of GSM8K's easiest items.

`direct` asks for the number straight away; `cot` puts the intermediate steps in the target
before the answer ("2*3=6;5+6=11;#11"), and exact match is judged on the final answer only.
"""

from __future__ import annotations

import random

from .base import Example, Task

PEOPLE = [("Roger", "He", "he"), ("Maria", "She", "she"), ("Tom", "He", "he"), ("Ana", "She", "she"),
          ("Ravi", "He", "he"), ("Lena", "She", "she"), ("Omar", "He", "he"), ("Yuki", "She", "she")]
THINGS = ["ball", "apple", "pen", "card", "shell", "coin"]


class WordProblem(Task):
    name = "word_problem"
    variants = ("direct", "cot")
    description = "two-step word problems, e.g. 'Roger has 5 balls. He buys 2 cans of 3 balls each...'"
    eval_fraction = 0.2

    def __init__(self, variant: str = "direct", max_operand: int = 9) -> None:
        super().__init__(variant)
        if not 9 <= max_operand <= 999:
            raise ValueError("word_problem: max_operand must be between 9 and 999")
        # 9 keeps every problem small (a few hundred per template: a direct answer can be
        # memorised); 99 makes the two steps real arithmetic, which only the worked steps break up
        self.m = max_operand

    def sample(self, rng: random.Random) -> Example:
        name, He, he = rng.choice(PEOPLE)
        thing = rng.choice(THINGS)
        kind = rng.randrange(3)
        if kind == 0:
            a, b, c = rng.randint(2, self.m), rng.randint(2, 5), rng.randint(2, self.m)
            text = (f"{name} has {a} {thing}s. {He} buys {b} packs of {c} {thing}s each. "
                    f"How many {thing}s does {he} have?")
            steps = [f"{b}*{c}={b * c}", f"{a}+{b * c}={a + b * c}"]
            answer = a + b * c
        elif kind == 1:
            a = rng.randint(5, self.m)
            b, c = rng.randint(1, a - 1), rng.randint(2, self.m)
            text = (f"{name} has {a} {thing}s. {He} gives away {b} and then finds {c} more. "
                    f"How many {thing}s does {he} have?")
            steps = [f"{a}-{b}={a - b}", f"{a - b}+{c}={a - b + c}"]
            answer = a - b + c
        else:
            a, b = rng.randint(2, 5), rng.randint(2, self.m)
            c = rng.randint(1, a * b - 1)
            text = (f"{name} buys {a} boxes of {b} {thing}s and eats {c}. "
                    f"How many {thing}s are left?")
            steps = [f"{a}*{b}={a * b}", f"{a * b}-{c}={a * b - c}"]
            answer = a * b - c
        # The split hashes the prompt, which is the same for both variants: direct and cot hold
        # out the same problems.
        prompt = f"Q: {text} A:"
        target = str(answer) if self.variant == "direct" else ";".join(steps) + f";#{answer}"
        return Example(prompt, target, str(answer), {"template": kind})

    def extract_answer(self, generated: str) -> str:
        return generated.rsplit("#", 1)[-1] if self.variant == "cot" else generated

    def answer_alphabet(self) -> str:
        return "0123456789" if self.variant == "direct" else "0123456789+-*=;#"
