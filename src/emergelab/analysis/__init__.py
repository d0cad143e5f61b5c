"""Analysis of results tables: emergence (detect, classify, thresholds), comparing runs,
scaling-law fits and the compute planner. `analyze` is the library entry point.

Imported on first use: `emergelab fit chinchilla` needs none of the emergence machinery (scipy's
statistics), and a command should not pay for what it does not run."""

__all__ = ["Analysis", "CurveResult", "analyze"]


def __getattr__(name: str):
    if name in __all__:
        from . import analyze_source

        return getattr(analyze_source, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
