"""Analysis of results tables: emergence (detect, classify, thresholds), comparing runs,
scaling-law fits and the compute planner. `analyze` is the library entry point."""

from .analyze_source import Analysis, CurveResult, analyze

__all__ = ["Analysis", "CurveResult", "analyze"]
