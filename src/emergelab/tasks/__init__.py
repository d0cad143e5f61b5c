"""The task world: one module per family of skills, and a registry to build them by name."""

from __future__ import annotations

from ..errors import UserError
from .arithmetic import Add, Add1, Mul
from .base import EVAL, TRAIN, Example, Task
from .distractor import Distractor
from .facts import Facts
from .in_context import ICLMap, Repeat
from .instructions import Instruct
from .modular import ModAdd
from .word_problems import WordProblem

REGISTRY: dict[str, type[Task]] = {cls.name: cls for cls in (
    Add1, Add, Mul, Facts, WordProblem, ICLMap, Repeat, Instruct, Distractor, ModAdd)}


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


__all__ = ["Example", "Task", "TRAIN", "EVAL", "REGISTRY", "build_task"]
