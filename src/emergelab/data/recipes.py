"""A recipe study's training mixture: the base's tasks, their surface format, and a recipe's
changes (config.RecipeChange), all as shares of training rows.

Every recipe trains the base's steps and batch size, so the same number of rows: a change that
adds data at share s takes it from the rest (every other row's share times 1 - s), repetition
and curriculum keep each task's share and change which rows, or when. Tokens per row differ
between tasks (a scratchpad row is longer than a plain one), so a recipe's tokens can differ from
the base's; the results table records each checkpoint's real tokens and FLOPs, and `induce`
states them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..config import RecipeChange, RunConfig
from ..tasks import EVAL, TRAIN, Example, Task, build_task
from .mixture import Mixture


class ItemPool(Task):
    """Training rows drawn from a fixed list of items: a task's rows from a few items seen again
    and again (repetition), or its evaluation items leaked into training (contamination). Held-out
    rows (the validation loss) still come from the task's own held-out split."""

    def __init__(self, task: Task, items: list[Example], what: str) -> None:
        self.task, self.items, self.what = task, items, what
        self.name, self.variant = task.name, task.variant
        self.loss_on_prompt = task.loss_on_prompt

    def sample(self, rng: random.Random) -> Example:
        return self.items[rng.randrange(len(self.items))]

    def sample_split(self, rng: random.Random, split: str, max_tries: int = 10_000) -> Example:
        return self.sample(rng) if split == TRAIN else self.task.sample_split(rng, EVAL, max_tries)


@dataclass
class Component:
    task: Task
    share: float
    label: str
    of: str | None = None  # the base task this component stands for (None: added by the recipe)


def _task_id(name: str, variant: str | None, tasks: list[Task]) -> Task:
    return next(t for t in tasks if t.name == name and (variant is None or t.variant == variant))


def _base_components(cfg: RunConfig, tasks: list[Task]) -> list[Component]:
    total = sum(t.weight for t in cfg.tasks)
    surface = cfg.transfer.surface_share if cfg.transfer else 0.0
    out = []
    for tc, task in zip(cfg.tasks, tasks):
        share = tc.weight / total
        if surface > 0 and "surface" in task.transfer_sets:
            twin = task.transfer_task("surface")
            out.append(Component(task, share * (1 - surface), task.id, task.id))
            out.append(Component(twin, share * surface, f"{twin.id} (surface format)", task.id))
        else:
            out.append(Component(task, share, task.id, task.id))
    return out


def _added(c: RecipeChange, base: Task, cfg: RunConfig) -> Component:
    if c.kind == "data":
        task = build_task(c.task, c.variant, **c.options)
        return Component(task, c.share, f"{task.id} (added data)")
    if c.kind == "ability_seeds":
        task = build_task(base.name, base.worked_variant, **_options(cfg, base))
        return Component(task, c.share, f"{task.id} (ability seeds)")
    n_eval = next(t.n_eval for t in cfg.tasks if t.name == base.name
                  and (t.variant or type(base).variants[0]) == base.variant)
    items = base.eval_set(n_eval, cfg.seed)
    return Component(ItemPool(base, items, "evaluation items"), c.share,
                     f"{base.id} ({len(items)} evaluation items, leaked)")


def _options(cfg: RunConfig, task: Task) -> dict:
    return next(t.options for t in cfg.tasks if t.name == task.name
                and (t.variant or type(task).variants[0]) == task.variant)


def study_components(cfg: RunConfig, tasks: list[Task]) -> tuple[list[Component], tuple | None]:
    """The rows' components and their shares, and the curriculum (base task id, until) if the
    recipe has one."""
    comps = _base_components(cfg, tasks)
    changes = cfg.recipe.changes if cfg.recipe else []
    added, curriculum = [], None
    for c in changes:
        base = None if c.kind == "data" else _task_id(c.task, c.variant, tasks)
        if c.kind == "repetition":
            for comp in comps:
                if comp.task is base:
                    rng = random.Random(f"repeat|{base.id}|{cfg.seed}")
                    items = base._distinct(rng, c.items, TRAIN, set())
                    comp.task = ItemPool(base, items, "repeated items")
                    comp.label = f"{base.id} (rows from {len(items)} items, repeated)"
        elif c.kind == "curriculum":
            curriculum = (base.id, c.until)
        else:
            added.append(_added(c, base, cfg))
    rest = 1 - sum(a.share for a in added)
    for comp in comps:
        comp.share *= rest
    return comps + added, curriculum


def study_mixture(cfg: RunConfig, tasks: list[Task], seed: int) -> Mixture:
    """The mixture of one experiment of a recipe study (its base or one recipe)."""
    comps, curriculum = study_components(cfg, tasks)
    shares = [c.share for c in comps]
    phases = None
    if curriculum is not None:
        phases = curriculum_phases(comps, curriculum, cfg.train.steps)
    return Mixture([c.task for c in comps], shares, seed, phases)


def curriculum_phases(comps: list[Component], curriculum: tuple[str, float],
                      steps: int) -> list[tuple[int, list[float]]]:
    """Two phases that move the task's rows forward: its share P over the run becomes
    min(1, P/until) during the first `until` of the steps and the remainder after, so the run
    trains as many of its rows as the base does, earlier."""
    task_id, until = curriculum
    mine = [c.of == task_id for c in comps]
    total = sum(c.share for c, m in zip(comps, mine) if m)
    switch = max(1, round(until * steps))
    frac = switch / steps
    first = min(1.0, total / frac)
    second = (total - first * frac) / (1 - frac)

    def weights(own: float) -> list[float]:
        return [c.share / total * own if m else c.share / (1 - total) * (1 - own)
                for c, m in zip(comps, mine)]

    return [(0, weights(first)), (switch, weights(second))]


def describe(mixture: Mixture, comps: list[Component], steps: int) -> list[str]:
    """The mixture as people read it: each component's share of rows (per phase)."""
    lines = []
    starts = [s for s, _ in mixture.phases] or [0]
    for i, start in enumerate(starts):
        weights = mixture.weights_at(start)
        end = starts[i + 1] if i + 1 < len(starts) else steps
        head = f"steps {start}-{end}: " if mixture.phases else ""
        lines.append(head + ", ".join(f"{c.label} {w:.0%}" for c, w in zip(comps, weights)
                                      if w > 0))
    return lines
