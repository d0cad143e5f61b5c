"""Analysis of results tables, by subject: verdicts/ (detect and classify emergence,
thresholds, seeds, comparing recipes), forecasting/ (predict larger models from smaller ones)
and laws/ (scaling-law fits and the compute planner). `analyze` is re-exported here.

Imported on first use: `emergelab fit chinchilla` needs none of the emergence machinery (scipy's
statistics), and a command should not pay for what it does not run."""

__all__ = ["Analysis", "CurveResult", "analyze"]


def __getattr__(name: str):
    if name in __all__:
        from .verdicts import analyze_source

        return getattr(analyze_source, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
