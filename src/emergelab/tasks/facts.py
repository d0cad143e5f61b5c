"""Knowledge recall over a synthetic world: entities with unique invented names, each with a few
attributes. Nothing but memorisation can answer, so recall is bounded by what the parameters can
store and scales smoothly with size (Allen-Zhu & Li 2024 measure ~2 bits/param for long-trained
models; short runs store far less). The evaluation set *is* the stored facts, by design.

With `zipf = s > 0` entities are as unevenly popular as in real text: the entity of popularity rank
r is trained on in proportion to 1/r^s, and questions are asked about entities in the same
proportion. Every model then knows the popular entities first, and growing the model adds the
next-rarer ones, so recall rises gradually over decades of size, as knowledge benchmarks do (Kandpal
et al. 2023: what a model knows follows how often it saw it). With uniform popularity every fact
is equally hard, and recall jumps once a model's capacity covers the whole world.
"""

from __future__ import annotations

import math
import random

from .base import Example, Task
from .registry import register_task

CONSONANTS = "bdfgklmnprstvz"
VOWELS = "aeiou"
COLORS = ["red", "blue", "green", "gold", "gray", "pink", "teal", "tan",
          "navy", "lime", "plum", "rust", "jade", "ruby", "snow", "coal"]
PETS = ["cat", "dog", "owl", "fox", "eel", "yak", "ram", "bat"]


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(syllables))


@register_task
class Facts(Task):
    name = "facts"
    description = "recall an attribute of an invented entity, e.g. 'Bokelu's pet:' -> owl"
    memorisation = True

    def __init__(self, variant: str = "plain", entities: int = 400, world_seed: int = 0,
                 zipf: float = 0.0) -> None:
        super().__init__(variant)
        if entities < 1:
            raise ValueError("facts: entities must be at least 1")
        if not 0 <= zipf <= 3:
            raise ValueError("facts: zipf must be between 0 and 3")
        rng = random.Random(f"facts-world|{world_seed}")
        names: set[str] = set()
        while len(names) < entities:
            names.add(_word(rng, 3).capitalize())
        cities = sorted({_word(rng, 2).capitalize() for _ in range(64)})[:32]
        self.attributes: dict[str, list[str]] = {
            "color": COLORS,
            "pet": PETS,
            "city": cities,
            "year": [str(y) for y in range(1950, 2014)],
        }
        self.facts: list[Example] = []
        for name in sorted(names):
            for attr, values in self.attributes.items():
                value = rng.choice(values)
                self.facts.append(Example(f"{name}'s {attr}:", value, value, {"attribute": attr}))
        # popularity rank: a seeded shuffle, so rank is not alphabetical
        order = list(range(len(self.facts)))
        random.Random(f"facts-popularity|{world_seed}").shuffle(order)
        n_attr = len(self.attributes)
        rank = {}
        for r, entity in enumerate(dict.fromkeys(i // n_attr for i in order)):
            rank[entity] = r
        self.weights = [1.0 / (rank[i // n_attr] + 1) ** zipf for i in range(len(self.facts))]
        self.zipf = zipf

    def sample(self, rng: random.Random) -> Example:
        if not self.zipf:
            return rng.choice(self.facts)
        return rng.choices(self.facts, weights=self.weights)[0]

    def eval_set(self, n: int, seed: int) -> list[Example]:
        rng = random.Random(f"eval|{self.name}|{seed}")  # same items for every variant
        if n >= len(self.facts):
            return list(self.facts)
        if not self.zipf:
            return rng.sample(self.facts, n)
        # n distinct facts drawn in proportion to popularity (Efraimidis-Spirakis keys u^(1/w))
        keys = [rng.random() ** (1.0 / w) for w in self.weights]
        top = sorted(range(len(self.facts)), key=keys.__getitem__, reverse=True)[:n]
        return [self.facts[i] for i in sorted(top)]

    def answer_alphabet(self) -> str:
        return "".join(sorted({ch for vals in self.attributes.values() for v in vals for ch in v}))

    def bits(self, example: Example) -> float:
        """Information in one fact: log2 of the number of values its attribute can take."""
        return math.log2(len(self.attributes[example.meta["attribute"]]))

    def stored_bits(self, examples: list[Example], correct: list[bool]) -> float:
        """Bits recalled beyond chance: each fact recalled counts log2|V|, minus what a uniform
        guesser would get right on the same facts."""
        got = sum(self.bits(e) for e, c in zip(examples, correct) if c)
        chance = sum(self.bits(e) / len(self.attributes[e.meta["attribute"]]) for e in examples)
        return max(0.0, got - chance)
