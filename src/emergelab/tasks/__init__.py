"""The task world: one module per family of skills, each task registered by name where it is
defined (tasks/registry.py)."""

from __future__ import annotations

from ..errors import UserError
from .base import EVAL, TRAIN, Example, Task
from .registry import REGISTRY, register_task

# importing a module registers its tasks; `emergelab tasks` lists them in this order
from . import arithmetic, facts, word_problems, in_context, instructions, distractor  # noqa: E402, F401, I001
from . import modular  # noqa: E402, F401


def build_task(name: str, variant: str | None = None, **options) -> Task:
    """Build a task by name; unknown names, variants or options are user errors."""
    cls = REGISTRY.get(name)
    if cls is None:
        raise UserError(f"unknown task {name!r} (known: {', '.join(sorted(REGISTRY))})")
    try:
        return cls(variant or cls.variants[0], **options)
    except TypeError as err:
        raise UserError(f"task {name!r}: bad option ({err})") from None
    except ValueError as err:
        raise UserError(str(err)) from None


__all__ = ["Example", "Task", "TRAIN", "EVAL", "REGISTRY", "build_task", "register_task"]
