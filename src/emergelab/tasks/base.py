"""What every task is: a seeded generator of (prompt, target) examples with a held-out split,
an answer normaliser and the random baseline of each metric.

The train/eval split is a pure function of the prompt (a stable hash), so no training example can
ever equal an evaluation example, whatever seeds are used, and the split survives restarts.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field

TRAIN, EVAL = "train", "eval"


def default_generation_budget(longest_target: int) -> int:
    """Twice the longest target plus 8 tokens: room for a wrong answer longer than the right one."""
    return 2 * longest_target + 8


@dataclass(frozen=True)
class Example:
    prompt: str
    target: str
    # The part of the target that is the answer (for chain-of-thought targets it is the tail).
    answer: str
    meta: dict = field(default_factory=dict, compare=False)
    # Multiple choice (BIG-bench `target_scores`): the options and the score of each; the model's
    # pick is the option it gives the highest log-likelihood. Empty for generative examples.
    choices: tuple[str, ...] = ()
    choice_scores: tuple[float, ...] = ()

    @property
    def is_multiple_choice(self) -> bool:
        return bool(self.choices)


def stable_fraction(text: str) -> float:
    """A number in [0, 1) that depends only on text (not on PYTHONHASHSEED)."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class Task:
    """Base class. Subclasses set `name`, `variants`, implement `sample(rng)` and may override
    `split_of`, `normalize`, `answer_alphabet`."""

    name: str = ""
    variants: tuple[str, ...] = ("plain",)
    description: str = ""
    eval_fraction: float = 0.2
    # Memorisation tasks (facts) evaluate on what they trained on, by design.
    memorisation: bool = False
    # Train on the prompt's tokens too (language-model style), not only on the answer.
    loss_on_prompt: bool = False
    # Generation: at most this many new tokens (None: generation_budget's rule), and strings
    # that end an answer besides the end token (a newline always does for one-line answers).
    max_new_tokens: int | None = None
    stop_sequences: tuple[str, ...] = ()
    # Recipe studies (data/recipes.py, analysis/verdicts/induction.py): the variant that writes worked
    # examples of this skill ("ability seeds"), and the transfer sets this task offers beside its
    # in-distribution items (see transfer_task).
    worked_variant: str | None = None
    transfer_sets: tuple[str, ...] = ()

    def __init__(self, variant: str = "plain") -> None:
        if variant not in self.variants:
            raise ValueError(
                f"task {self.name!r} has no variant {variant!r} (choose from {', '.join(self.variants)})"
            )
        self.variant = variant

    @property
    def id(self) -> str:
        return self.name if self.variant == "plain" else f"{self.name}/{self.variant}"

    # -- generation ---------------------------------------------------------------------------
    def sample(self, rng: random.Random) -> Example:  # pragma: no cover - abstract
        raise NotImplementedError

    def split_of(self, example: Example) -> str:
        if self.memorisation:
            return TRAIN
        key = f"{self.name}|{example.prompt}"
        return EVAL if stable_fraction(key) < self.eval_fraction else TRAIN

    def sample_split(self, rng: random.Random, split: str, max_tries: int = 10_000) -> Example:
        """Rejection-sample one example of the given split."""
        if self.memorisation:
            return self.sample(rng)
        for _ in range(max_tries):
            ex = self.sample(rng)
            if self.split_of(ex) == split:
                return ex
        raise RuntimeError(f"task {self.id}: no {split} example found in {max_tries} draws")

    def eval_set(self, n: int, seed: int) -> list[Example]:
        """Up to n distinct held-out examples (fewer when the task's eval space is smaller)."""
        rng = random.Random(f"eval|{self.name}|{seed}")  # same items for every variant
        return self._distinct(rng, n, TRAIN if self.memorisation else EVAL, set())

    def fresh_set(self, n: int, seed: int, exclude: set[str]) -> list[Example]:
        """Up to n held-out examples from a generator stream disjoint from eval_set's, none of
        whose prompts is in `exclude` (the in-distribution items): new items of the same skill
        and format, as GSM1k re-wrote GSM8K."""
        rng = random.Random(f"fresh|{self.name}|{seed}")
        return self._distinct(rng, n, EVAL, exclude)

    def train_set(self, rng: random.Random, n: int) -> list[Example]:
        """Up to n distinct training examples from rng's stream (never an evaluation item)."""
        return self._distinct(rng, n, TRAIN, set())

    def _distinct(self, rng: random.Random, n: int, split: str, exclude: set[str]) -> list[Example]:
        seen: dict[str, Example] = {}
        misses = 0
        while len(seen) < n and misses < 50 * n + 1000:
            ex = self.sample_split(rng, split)
            if ex.prompt in seen or ex.prompt in exclude:
                misses += 1
                continue
            seen[ex.prompt] = ex
        return list(seen.values())

    def transfer_task(self, kind: str) -> "Task":
        """The task whose held-out items make transfer set `kind` ("surface": the same items in
        another format the model trains on; "harder": one step more). Tasks that list a kind in
        transfer_sets override this."""
        raise ValueError(f"task {self.id} offers no {kind!r} transfer set")

    def generation_budget(self, longest_target: int) -> int:
        """New tokens a model may generate, given the longest target in the scorer's tokens:
        max_new_tokens when set, else twice the longest target plus 8, so a wrong answer may
        run longer than the right one and its edit distance is not capped at the target's
        length (the mirage argument reads the edit distance of the same outputs)."""
        return self.max_new_tokens or default_generation_budget(longest_target)

    # -- scoring ------------------------------------------------------------------------------
    def extra_metrics(self, scorer, examples: list[Example]) -> list[dict]:
        """Task-specific result rows beyond the shared metrics (computed with a character-level
        scorer); none by default."""
        return []

    def normalize(self, text: str) -> str:
        """Canonical form of an answer: surrounding and inner spaces removed."""
        return "".join(text.split())

    def extract_answer(self, generated: str) -> str:
        """The answer part of a generation (chain-of-thought variants override this)."""
        return generated

    def answer_alphabet(self) -> str:
        return "0123456789"

    def baselines(self, examples: list[Example], seed: int = 0,
                  tokenize=None) -> dict[str, float]:
        """Each metric's value for a random guesser, in the scorer's units: tokenize(text) gives
        its tokens (default: characters, our GPT's tokens; a Hugging Face model's tokenizer for
        its evaluation, so per-token baselines are per model token as its metrics are).

        The guesser answers with the target of another, randomly chosen example of the same task
        (so its answers have the right length and distribution but no relation to the prompt);
        for log-probabilities it spreads probability uniformly over the answer alphabet plus the
        end token, character by character (a total that does not depend on the tokenizer; its
        per-token mean divides by the target's tokens). Monte Carlo over the examples, seeded.
        """
        from rapidfuzz.distance import Levenshtein  # the tasks know no evaluator

        tokenize = tokenize or list
        rng = random.Random(f"baseline|{self.id}|{seed}")
        targets = [tokenize(e.target) for e in examples]
        answers = [e.answer for e in examples]
        em = ed = edn = acc = 0.0
        n_draws = 0
        for _ in range(max(1, 2000 // max(1, len(examples)))):
            perm = list(range(len(examples)))
            rng.shuffle(perm)
            for i, j in enumerate(perm):
                guess_t, true_t = targets[j], targets[i]
                em += self.normalize(answers[j]) == self.normalize(answers[i])
                d = Levenshtein.distance(guess_t, true_t)
                ed += d
                edn += d / max(1, len(true_t))
                acc += sum(a == b for a, b in zip(guess_t, true_t)) / max(1, len(true_t))
                n_draws += 1
        k = len(self.answer_alphabet()) + 1
        totals = [-len(e.target) * math.log(k) for e in examples]  # per answer, in characters
        lp = sum(totals) / len(totals)
        lp_mean = sum(t / max(1, len(tok)) for t, tok in zip(totals, targets)) / len(totals)
        return {
            "exact_match": em / n_draws,
            "token_edit_distance": ed / n_draws,
            "token_edit_distance_norm": edn / n_draws,
            "token_accuracy": acc / n_draws,
            "target_logprob": lp,
            "target_logprob_mean": lp_mean,
        }
