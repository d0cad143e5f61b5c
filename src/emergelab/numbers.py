"""One way to write a number for people, in every table, read-out and plot: three significant
digits with a K / M / B / T suffix for scales (46.4K, 1.2B), small values as they are (0.012)."""

from __future__ import annotations


def num(v: float | None) -> str:
    """A scale as people read it: 46.4K, 1.2B, 0.012; "" for None."""
    if v is None:
        return ""
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"
