"""EmergeLab: measure, explain and predict emergent abilities of language models.

The library (emergelab/library.py): run, analyze, compare, predict, report, fit_chinchilla,
fit_kaplan — each imported on first use, so `import emergelab` stays light."""

__version__ = "0.1.0"

from .errors import UserError  # noqa: E402  (the one exception a caller's mistake raises)

_LIBRARY = ("run", "analyze", "compare", "predict", "report", "fit_chinchilla", "fit_kaplan",
            "fit_points", "RunResult", "Comparison")
__all__ = ["UserError", "__version__", *_LIBRARY]


def __getattr__(name: str):
    if name in _LIBRARY:
        from . import library

        return getattr(library, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
