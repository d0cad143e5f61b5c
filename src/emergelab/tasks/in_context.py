"""In-context learning of a novel mapping: the emblematic emergent ability that needs induction
heads (Olsson et al. 2022), so two attention layers.

Every prompt draws a fresh mapping from lowercase keys to uppercase values and shows a sequence of
key-value pairs in which keys recur (`kQ bX kQ mT bX ...`), then asks for one shown key (`?b` ->
`X`). Nothing can be memorised across prompts; only reading the context answers. The number of
pairs, their order and the gaps between them (one to three spaces) vary, so no value sits at a
fixed position: on a fixed 3-character grid a 1-layer model with a few heads learned to read the
values at fixed slots and reached 0.53 exact match against a 0.23 baseline (2-layer models of the
same widths: 0.30), so the layout, not the mapping, was being solved. With varying gaps a 1-layer
model can only copy a random shown value.

The whole sequence is trained on (`loss_on_prompt`), as in Olsson et al.'s language-model setting:
every recurring pair is a chance to copy. The ICL score of a checkpoint is their measure: mean
loss on values in the last third of the context minus the mean loss on values in the first third
(negative: later tokens are easier because the context has been read).
"""

from __future__ import annotations

import random
import string

from .base import Example, Task


class ICLMap(Task):
    name = "icl_map"
    description = "copy a novel key->value mapping shown in context, e.g. 'aQ bX aQ ?b' -> X"
    eval_fraction = 0.2
    loss_on_prompt = True

    def __init__(self, variant: str = "plain", min_keys: int = 3, max_keys: int = 6,
                 min_pairs: int = 8, max_pairs: int = 16) -> None:
        super().__init__(variant)
        if not 2 <= min_keys <= max_keys <= 26 or not max_keys <= min_pairs <= max_pairs:
            raise ValueError("icl_map: need 2 <= min_keys <= max_keys <= min_pairs <= max_pairs")
        self.keys = (min_keys, max_keys)
        self.pairs = (min_pairs, max_pairs)

    def sample(self, rng: random.Random) -> Example:
        k = rng.randint(*self.keys)
        keys = rng.sample(string.ascii_lowercase, k)
        mapping = dict(zip(keys, rng.sample(string.ascii_uppercase, k)))
        n = rng.randint(*self.pairs)
        seq = list(keys) + [rng.choice(keys) for _ in range(n - k)]  # every key shown at least once
        rng.shuffle(seq)
        query = rng.choice(keys)
        prompt = "".join(key + mapping[key] + " " * rng.randint(1, 3) for key in seq) + f"?{query}"
        return Example(prompt, mapping[query], mapping[query], {"keys": k})

    def normalize(self, text: str) -> str:
        return text.strip()

    def answer_alphabet(self) -> str:
        return string.ascii_uppercase

    def baselines(self, examples: list[Example], seed: int = 0) -> dict[str, float]:
        """Exact match of a guesser that copies a random value shown in the context (1/k): the
        level a model reaches without induction. Other metrics as the base class."""
        base = super().baselines(examples, seed)
        base["exact_match"] = sum(1 / e.meta["keys"] for e in examples) / len(examples)
        return base

    def extra_metrics(self, scorer, examples: list[Example]) -> list[dict]:
        """The ICL score (late minus early value loss in the context), teacher-forced."""
        contexts = [Example("", e.prompt[:e.prompt.rindex("?")], "") for e in examples]
        late, early = [], []
        for ex, (logprobs, _) in zip(contexts, scorer.teacher_forced(contexts)):
            values = [i for i, ch in enumerate(ex.target) if ch.isupper()]
            third = max(1, len(values) // 3)
            early += [-logprobs[i] for i in values[:third]]
            late += [-logprobs[i] for i in values[-third:]]
        score = sum(late) / len(late) - sum(early) / len(early)
        return [{"metric": "icl_score", "value": score, "baseline": 0.0, "higher_is_better": False,
                 "n": len(examples)}]

