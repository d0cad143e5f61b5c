"""Tasks by name. A task class joins with `@register_task` where it is defined (lm-evaluation-
harness's task registry is the model): adding a task is one file, with no list to edit.

A task registered by a user's own module is known to every process that imports that module:
the in-process backend, or a script that imports it before `emergelab.run`. Worker processes of
the local pool and Ray import only EmergeLab's own tasks."""

from __future__ import annotations

REGISTRY: dict[str, type] = {}


def register_task(cls: type) -> type:
    """Class decorator: make `cls` buildable by its `name` (configs, `emergelab tasks`)."""
    name = getattr(cls, "name", "")
    if not name:
        raise ValueError(f"{cls.__name__}: a registered task needs a name")
    if REGISTRY.get(name, cls) is not cls:
        raise ValueError(f"task {name!r} is registered twice ({REGISTRY[name].__name__} and "
                         f"{cls.__name__})")
    REGISTRY[name] = cls
    return cls
