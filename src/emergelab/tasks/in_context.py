"""In-context learning of a novel mapping: the emblematic emergent ability that needs induction
heads (Olsson et al. 2022), so two attention layers.

Every prompt draws a fresh mapping from lowercase keys to uppercase values and shows a sequence of
key-value pairs in which keys recur (`kQ bX kQ mT bX ...`), then asks for one shown key (`?b` ->
`X`). Nothing can be memorised across prompts; only reading the context answers. The number of
pairs and their order vary, so the answer's position varies too: a 1-layer model cannot solve it
by position, and stays at the copy-a-random-shown-value level.

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
                 min_pairs: int = 6, max_pairs: int = 14) -> None:
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
        prompt = " ".join(key + mapping[key] for key in seq) + f" ?{query}"
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
        contexts = [Example("", e.prompt[:e.prompt.rindex(" ?")], "") for e in examples]
        late, early = [], []
        for ex, (logprobs, _) in zip(contexts, scorer.teacher_forced(contexts)):
            values = list(range(1, len(ex.target), 3))  # "kQ mT ...": a value every 3rd char
            third = max(1, len(values) // 3)
            early += [-logprobs[i] for i in values[:third]]
            late += [-logprobs[i] for i in values[-third:]]
        score = sum(late) / len(late) - sum(early) / len(early)
        return [{"metric": "icl_score", "value": score, "baseline": 0.0, "higher_is_better": False,
                 "n": len(examples)}]

