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


TRANSFER_SETS = ("fresh", "surface", "harder")


def build_eval_tasks(cfg: RunConfig, tasks: list[Task] | None = None) -> list[EvalTask]:
    """Every task of cfg at each of its shot counts (one EvalTask per task and count); in a
    recipe study also each transfer set the task offers (variant column "<variant>-<set>")."""
    tasks = tasks or build_tasks(cfg)
    out = []
    for t, task in zip(cfg.tasks, tasks):
        sets = transfer_sets(cfg, t.n_eval, task)
        for k in t.shots:
            out.append(EvalTask.build(task, t.n_eval, cfg.seed, k, pass_until=t.pass_until))
            out += [EvalTask.build(tt, t.n_eval, cfg.seed, k, exs, f"{task.variant}-{kind}",
                                   t.pass_until)
                    for kind, (tt, exs) in sets.items()]
    return out


def transfer_sets(cfg: RunConfig, n: int, task: Task) -> dict[str, tuple[Task, list]]:
    """The transfer sets a task offers in a recipe study: fresh items (a generator stream
    disjoint from the in-distribution items), the same items in the surface format (trained
    only where the study trains that format), and a harder variant. Empty outside studies."""
    if cfg.transfer is None:
        return {}
    out = {}
    for kind in TRANSFER_SETS:
        if kind not in task.transfer_sets:
            continue
        if kind == "surface" and cfg.transfer.surface_share == 0:
            continue  # a format never trained on cannot be read: not a transfer test
        if kind == "fresh":
            seen = {e.prompt for e in task.eval_set(n, cfg.seed)}
            out[kind] = (task, task.fresh_set(n, cfg.seed, seen))
        else:
            twin = task.transfer_task(kind)
            twin.max_new_tokens, twin.stop_sequences = task.max_new_tokens, task.stop_sequences
            out[kind] = (twin, twin.eval_set(n, cfg.seed))
    return out


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
    mixture = training_mixture(cfg, tasks)
    block = cfg.transfer.block_size if cfg.transfer and cfg.transfer.block_size else \
        block_size_for(mixture, eval_tasks)
    return eval_tasks, mixture, ladder_members(cfg, block)


def training_mixture(cfg: RunConfig, tasks: list[Task]) -> Mixture:
    """The tasks by weight; in a recipe study, the study's mixture (data/recipes.py)."""
    if cfg.recipe is None and cfg.transfer is None:
        return Mixture(tasks, [t.weight for t in cfg.tasks], cfg.seed)  # each task trained once
    from .data.recipes import study_mixture

    return study_mixture(cfg, tasks, cfg.seed)


def mixture_seed(cfg: RunConfig, member: Member) -> int:
    """The seed of the batches a member trains on: members of one seed share them."""
    return cfg.seed * 1000 + member.data_seed


def member_mixture(cfg: RunConfig, mixture: Mixture, member: Member) -> Mixture:
    return mixture.reseeded(mixture_seed(cfg, member))


def batches_dir(cfg: RunConfig, out: Path, member: Member) -> Path:
    return prebuilt.batches_dir(out, mixture_seed(cfg, member), cfg.train.batch_size,
                                cfg.train.steps)


def build_batches(cfg: RunConfig, mixture: Mixture, members: list[Member], out: Path) -> None:
    """Build the run's training batches once for all its members (data/prebuilt.py), one set per
    member seed; a set a previous attempt completed is kept."""
    for member in {mixture_seed(cfg, m): m for m in members}.values():
        prebuilt.build(member_mixture(cfg, mixture, member), cfg.train.steps,
                       cfg.train.batch_size, batches_dir(cfg, out, member))
