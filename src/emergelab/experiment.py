"""What a run config builds before anything trains: the evaluation sets, the training mixture and
the ladder. Deterministic in the config, so every backend's workers (processes, Ray nodes)
rebuild exactly what the driver built."""

from __future__ import annotations

from pathlib import Path

import torch

from .config import RunConfig
from .data import prebuilt
from .data.mixture import Mixture
from .data.tokenizer import CharTokenizer
from .evaluate.runner import EvalTask
from .models.ladder import Member, build_ladder
from .tasks import Task, build_task


def build_tasks(cfg: RunConfig) -> list[Task]:
    """One task object per entry of cfg.tasks, with its generation settings."""
    tasks = []
    for t in cfg.tasks:
        task = build_task(t.name, t.variant, **t.options)
        task.max_new_tokens, task.stop_sequences = t.max_new_tokens, tuple(t.stop)
        tasks.append(task)
    return tasks


def build_eval_tasks(cfg: RunConfig, tasks: list[Task] | None = None) -> list[EvalTask]:
    """Every task of cfg at each of its shot counts (one EvalTask per task and count)."""
    tasks = tasks or build_tasks(cfg)
    return [EvalTask.build(task, t.n_eval, cfg.seed, k)
            for t, task in zip(cfg.tasks, tasks) for k in t.shots]


def block_size_for(mixture: Mixture, eval_tasks: list[EvalTask]) -> int:
    longest = max(mixture.max_len(), *(len(e.prompt) + len(e.target) + 4
                                       for et in eval_tasks for e in et.examples))
    return int(2 ** (longest - 1).bit_length())  # round up to a power of two


def ladder_members(cfg: RunConfig, block_size: int) -> list[Member]:
    lc = cfg.ladder
    return build_ladder(lc.d_models, lc.seeds, CharTokenizer().vocab_size, block_size,
                        lc.head_dim, lc.max_layers, lc.n_layers, lc.vary)


def setup(cfg: RunConfig) -> tuple[list[EvalTask], Mixture, list[Member]]:
    """What every member of cfg's ladder shares: evaluation sets, training mixture, the ladder."""
    torch.manual_seed(cfg.seed)
    tasks = build_tasks(cfg)
    eval_tasks = build_eval_tasks(cfg, tasks)
    mixture = Mixture(tasks, [t.weight for t in cfg.tasks], cfg.seed)  # each task trained once
    return eval_tasks, mixture, ladder_members(cfg, block_size_for(mixture, eval_tasks))


def mixture_seed(cfg: RunConfig, member: Member) -> int:
    """The seed of the batches a member trains on: members of one seed share them."""
    return cfg.seed * 1000 + member.data_seed


def member_mixture(cfg: RunConfig, mixture: Mixture, member: Member) -> Mixture:
    return Mixture(mixture.tasks, mixture.weights, mixture_seed(cfg, member))


def batches_dir(cfg: RunConfig, out: Path, member: Member) -> Path:
    return prebuilt.batches_dir(out, mixture_seed(cfg, member), cfg.train.batch_size,
                                cfg.train.steps)


def build_batches(cfg: RunConfig, mixture: Mixture, members: list[Member], out: Path) -> None:
    """Build the run's training batches once for all its members (data/prebuilt.py), one set per
    member seed; a set a previous attempt completed is kept."""
    for member in {mixture_seed(cfg, m): m for m in members}.values():
        prebuilt.build(member_mixture(cfg, mixture, member), cfg.train.steps,
                       cfg.train.batch_size, batches_dir(cfg, out, member))
