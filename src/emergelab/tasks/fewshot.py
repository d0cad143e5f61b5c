"""Few-shot prompts: k solved demonstrations from a task's train split before the question.

The rule, for every kind of task: the demonstrations are one fixed, seeded set of k train
examples, the same before every evaluated example (as lm-evaluation-harness's `first_n` sampler
and MMLU's five dev examples), never one of the evaluated examples. Where they come from:

- generated tasks: their train split (the hash split of base.py), drawn with a seeded generator;
- JSONL files: the lines marked `"split": "train"` (those are never evaluated);
- BIG-bench JSON: the examples after the first n (the evaluated ones), drawn seeded.

Layout: demonstration texts (prompt + target, as the model should answer) joined by the
separator, then the separator, then the question. Generated and JSONL tasks use a newline (what
`export lmeval-tasks --shots K` writes as lm-eval's `fewshot_delimiter`); a BIG-bench task keeps
its own `few_shot_example_separator` and writes its `task_prefix` once, before the first
demonstration, as BIG-bench builds its prompts.
"""

from __future__ import annotations

import random
from dataclasses import replace

from ..errors import UserError
from .base import TRAIN, Example, Task

SEPARATOR = "\n"


def shot_counts(shots: list[int] | None) -> list[int]:
    """Checked shot counts (default: zero-shot only): at least one, none negative, no repeats."""
    shots = [0] if shots is None else list(shots)
    if not shots:
        raise UserError("--shots names no number")
    if min(shots) < 0:
        raise UserError(f"--shots must be 0 or more, not {min(shots)}")
    if len(set(shots)) != len(shots):
        raise UserError(f"--shots lists a count twice ({','.join(map(str, shots))})")
    return shots


def demonstrations(task: Task, k: int, seed: int, evaluated: list[Example]) -> list[Example]:
    """k train examples of task, seeded, none of them an evaluated one."""
    shot_counts([k])
    if k == 0:
        return []
    held = {e.prompt for e in evaluated}
    rng = random.Random(f"fewshot|{task.id}|{seed}")
    pool = task.train_pool(len(evaluated)) if hasattr(task, "train_pool") else None
    if pool is not None:
        pool = [e for e in pool if e.prompt not in held]
        if not pool:
            raise UserError(f"task {task.id} has no train split to draw demonstrations from "
                            f"({task.train_split_hint()})")
        if len(pool) < k:
            raise UserError(f"task {task.id}: {k} shots asked, but its train split has "
                            f"{len(pool)} examples ({task.train_split_hint()})")
        return rng.sample(pool, k)
    found: dict[str, Example] = {}
    tries = 0
    while len(found) < k:
        tries += 1
        if tries > 200 * k + 1000:
            raise UserError(f"task {task.id}: its train split has fewer than {k} distinct "
                            "examples to draw demonstrations from")
        ex = task.sample_split(rng, TRAIN)
        if ex.prompt not in held:
            found.setdefault(ex.prompt, ex)
    return list(found.values())


def demo_text(e: Example) -> str:
    return e.prompt + (e.answer if e.is_multiple_choice else e.target)


def fewshot_prompt(task: Task, demos: list[Example], prompt: str) -> str:
    if not demos:
        return prompt
    sep = getattr(task, "fewshot_separator", SEPARATOR)
    prefix = getattr(task, "prompt_prefix", "")  # BIG-bench's task_prefix: once, at the start
    body = [demo_text(d)[len(prefix):] for d in demos] + [prompt[len(prefix):]]
    return prefix + sep.join(body)


def with_shots(task: Task, examples: list[Example], k: int, seed: int) -> list[Example]:
    """examples with k demonstrations before each prompt (the same demonstrations for all)."""
    demos = demonstrations(task, k, seed, examples)
    return [replace(e, prompt=fewshot_prompt(task, demos, e.prompt)) for e in examples]
