"""Fine-tuning a member's checkpoint on k training examples of one task: the probes behind an
emergence law (Snell et al. 2024, "Predicting emergent capabilities by finetuning": fine-tuning
on a task moves its emergence point to smaller models, the more so the more examples).

A probe is the run's own training loop (train/loop.py) started from the member's final
weights with a fresh optimizer, on batches drawn only from k fixed training examples (never an
evaluation item: the split is a hash of the prompt), for a fixed number of steps whatever k is —
so k is how much the probe sees, not how long it trains. Its checkpoints and resume point live
in their own directory; a killed probe resumes like any member.
"""

from __future__ import annotations

import random
from pathlib import Path

from ..config import TrainConfig
from ..data.mixture import Mixture
from ..models.ladder import Member
from ..tasks import EVAL, TRAIN, Example, Task
from .checkpoint import list_checkpoints, load_checkpoint, save_train_state
from .kernels import Kernels
from .loop import make_optimizer, train_member

WARMUP_SHARE = 0.1  # of a probe's steps: a fresh optimizer must not start at the peak rate


class ProbeSet(Mixture):
    """Training batches drawn (with replacement, seeded per step) from a fixed list of examples
    of one task; the validation batch comes from the task's held-out items."""

    def __init__(self, task: Task, examples: list[Example], seed: int) -> None:
        super().__init__([task], [1.0], seed)
        self.fixed = examples

    def reseeded(self, seed: int) -> "ProbeSet":
        return ProbeSet(self.tasks[0], self.fixed, seed)

    def examples(self, step: int, batch_size: int, split: str = TRAIN) -> dict[int, list[Example]]:
        rng = random.Random(f"probe|{self.seed}|{split}|{step}")
        if split == EVAL:
            return {0: [self.tasks[0].sample_split(rng, EVAL) for _ in range(batch_size)]}
        return {0: [self.fixed[rng.randrange(len(self.fixed))] for _ in range(batch_size)]}


def probe_examples(task: Task, k: int, seed: int) -> list[Example]:
    """Up to k distinct training examples of the task, the same for every member and the first
    k of a larger k's (one seeded stream): a probe with more examples sees those of a smaller."""
    rng = random.Random(f"finetune|{task.name}|{task.variant}|{seed}")
    return task.train_set(rng, k)


def probe_train_config(run: TrainConfig, steps: int) -> TrainConfig:
    """The run's optimiser settings over `steps` steps, in fp32, one checkpoint at the end."""
    return run.model_copy(update={"steps": steps, "checkpoints": 1, "precision": "fp32",
                                  "attention": "sdpa",
                                  "warmup_steps": max(1, int(WARMUP_SHARE * steps))})


def finetune_member(member: Member, checkpoint: Path, task: Task, examples: list[Example],
                    cfg: TrainConfig, probe_dir: Path, seed: int, device="cpu",
                    on_step=None) -> Path:
    """Fine-tune `member` from `checkpoint` on `examples` with cfg (probe_train_config); returns
    the final checkpoint's path. Resumes from probe_dir's resume point; a finished probe is
    only looked up."""
    probe_dir = Path(probe_dir)
    done = dict(list_checkpoints(probe_dir))
    if cfg.steps in done:
        return done[cfg.steps]
    state = probe_dir / "train_state"
    if not (state / "state.json").exists():  # step 0: the member's weights, a fresh optimizer
        model, _ = load_checkpoint(checkpoint)
        save_train_state(model, make_optimizer(model, cfg), state,
                         {"step": 0, "tokens": 0, "precision": "fp32"})
    train_member(member, ProbeSet(task, examples, seed), cfg, probe_dir, on_step=on_step,
                 kernels=Kernels.fixed("fp32", "sdpa"), device=device)
    return dict(list_checkpoints(probe_dir))[cfg.steps]
