"""The pretraining mixture: tasks sampled by weight, one example per row.

Batch `s` is a pure function of (seed, s), so a resumed run sees exactly the batches an
uninterrupted one would. Rows are grouped by task before padding: a batch of 3-digit sums does not
pay for the length of a word problem.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch

from ..tasks import TRAIN, Example, Task
from .tokenizer import CharTokenizer


@dataclass
class Rows:
    """A right-padded group of training rows: inputs, next-token targets, and which targets are
    scored (the answer and its end token; prompts are context, not training signal)."""

    idx: torch.Tensor      # (B, T) input ids
    targets: torch.Tensor  # (B, T) next-token ids
    mask: torch.Tensor     # (B, T) bool, True where the target token is trained on

    def to(self, device) -> "Rows":
        return Rows(self.idx.to(device), self.targets.to(device), self.mask.to(device))


@dataclass
class Batch:
    """One batch: its task groups, plus what the loss needs over all groups' positions flattened
    one group after another (GPT.forward_packed's layout)."""

    groups: list[Rows]
    select: torch.Tensor   # (sum B*T,) bool, the trained positions
    targets: torch.Tensor  # (n selected,) their target ids
    tokens: int            # real (non-pad) input tokens

    @classmethod
    def of(cls, groups: list[Rows], pad_id: int) -> "Batch":
        select = torch.cat([r.mask.view(-1) for r in groups])
        targets = torch.cat([r.targets.view(-1) for r in groups])[select]
        return cls(groups, select, targets, sum(int((r.idx != pad_id).sum()) for r in groups))

    def to(self, device) -> "Batch":
        """This batch on `device` (built on the CPU, where batch s is a pure function of s)."""
        if torch.device(device).type == "cpu":
            return self
        return Batch([r.to(device) for r in self.groups], self.select.to(device),
                     self.targets.to(device), self.tokens)


def encode_rows(examples: list[Example], tok: CharTokenizer, loss_on_prompt: bool = False) -> Rows:
    seqs, starts = [], []
    for ex in examples:
        p = tok.encode(ex.prompt)
        seqs.append([tok.bos_id] + p + tok.encode(ex.target) + [tok.eos_id])
        # target position index (in the shifted sequence) of the first trained token
        starts.append(0 if loss_on_prompt else len(p))
    lengths = np.array([len(s) - 1 for s in seqs])
    T = int(lengths.max())
    full = np.full((len(seqs), T + 1), tok.pad_id, dtype=np.int64)
    for i, s in enumerate(seqs):
        full[i, :len(s)] = s
    cols = np.arange(T)[None, :]
    mask = (cols >= np.array(starts)[:, None]) & (cols < lengths[:, None])
    return Rows(torch.from_numpy(full[:, :-1].copy()), torch.from_numpy(full[:, 1:].copy()),
                torch.from_numpy(mask))


def _normalised(weights: list[float], n: int) -> list[float]:
    if len(weights) != n or not weights:
        raise ValueError("mixture needs one weight per task")
    total = float(sum(weights))
    if total <= 0 or any(w < 0 for w in weights):
        raise ValueError("mixture weights must be non-negative and not all zero")
    return [w / total for w in weights]


class Mixture:
    """Training rows drawn from tasks by weight. phases: a curriculum, [(first step, weights)]
    in step order; from each phase's first step on its weights replace `weights` (a recipe's
    order over training, data/recipes.py)."""

    def __init__(self, tasks: list[Task], weights: list[float], seed: int,
                 phases: list[tuple[int, list[float]]] | None = None) -> None:
        self.tasks = tasks
        self.weights = _normalised(weights, len(tasks))
        self.phases = [(int(start), _normalised(w, len(tasks))) for start, w in phases or []]
        self.seed = seed
        self.tok = CharTokenizer()

    def reseeded(self, seed: int) -> "Mixture":
        """The same mixture drawing another stream of batches."""
        return Mixture(self.tasks, self.weights, seed, self.phases)

    def weights_at(self, step: int) -> list[float]:
        weights = self.weights
        for start, w in self.phases:
            if step >= start:
                weights = w
        return weights

    def examples(self, step: int, batch_size: int, split: str = TRAIN) -> dict[int, list[Example]]:
        """The examples of batch `step`, grouped by task index."""
        rng = random.Random(f"mixture|{self.seed}|{split}|{step}")
        picks = rng.choices(range(len(self.tasks)), weights=self.weights_at(step), k=batch_size)
        groups: dict[int, list[Example]] = defaultdict(list)
        for t in picks:
            groups[t].append(self.tasks[t].sample_split(rng, split))
        return dict(sorted(groups.items()))

    def batch(self, step: int, batch_size: int, split: str = TRAIN) -> list[Rows]:
        return [encode_rows(exs, self.tok, self.tasks[t].loss_on_prompt)
                for t, exs in self.examples(step, batch_size, split).items()]

    def packed_batch(self, step: int, batch_size: int, split: str = TRAIN) -> Batch:
        return Batch.of(self.batch(step, batch_size, split), self.tok.pad_id)

    def max_len(self, probes: int = 2000) -> int:
        """Longest sequence (with BOS and EOS) seen in a sample of each task."""
        rng = random.Random(f"maxlen|{self.seed}")
        longest = 0
        for task in self.tasks:
            for _ in range(probes):
                ex = task.sample(rng)
                longest = max(longest, len(ex.prompt) + len(ex.target) + 2)
        return longest
