"""How a recipe study reads: a table of threshold shifts per recipe, task and set (80 columns),
and a PNG of where each recipe reaches the level against the base, in distribution beside
transfer."""

from __future__ import annotations

import math
from pathlib import Path

from ..numbers import num

SET_LABEL = {"in_distribution": "in-dist", "fresh": "fresh", "surface": "surface",
             "harder": "harder"}
SET_COLOR = {"in_distribution": "#1f77b4", "fresh": "#2ca02c", "surface": "#9467bd",
             "harder": "#7f7f7f"}


def _shift_cell(r) -> str:
    if r.shift_decades is None:
        return "none"
    bound = {"at least": ">=", "at most": "<="}.get(r.shift_bound, "")
    lo, hi = r.shift_ci or (None, None)
    ends = f"[{'-inf' if lo is None else f'{lo:+.2f}'},{'+inf' if hi is None else f'{hi:+.2f}'}]"
    star = "*" if r.significant else ""
    return f"{bound}{r.shift_decades:+.2f}{star} {ends}"


def _times(v) -> str:
    if v is None or not math.isfinite(v):
        return ""
    return f"{v:.2g}x" if v < 10 else f"{v:.0f}x"


def induction_table(result):
    """A Rich table, one row per recipe, task and set; the class on each recipe's first row."""
    from rich.table import Table

    table = Table(title="threshold shift, recipe vs base (decades; * significant)",
                  title_justify="left", box=None, pad_edge=False)
    for col, justify in (("recipe", "left"), ("task", "left"), ("set", "left"),
                         ("shift [95% CI]", "right"), ("params", "right"), ("FLOPs", "right"),
                         ("class", "left")):
        table.add_column(col, justify=justify, no_wrap=True)
    last = None
    for r in result.records:
        key = (r.recipe, r.task)
        first = key != last
        if first and last is not None:
            table.add_row()
        table.add_row(r.recipe if first else "", r.task if first else "", SET_LABEL[r.set],
                      _shift_cell(r), _times(r.efficiency), _times(r.efficiency_flops),
                      r.class_ if first else "")
        last = key
    return table


def induction_notes(result) -> list[str]:
    """What stands under the table: why each class, the mixtures, the tokens."""
    lines = ["shift: recipe's threshold minus the base's in decades of parameters; negative is "
             "earlier. params, FLOPs: times fewer parameters, and less training compute, reach "
             "the common level.",
             f"seeds per size: {result.seeds}"
             + ("" if result.seeds > 1 else " (intervals hold evaluation noise only)")]
    seen = set()
    for r in result.records:
        if (r.recipe, r.task) not in seen:
            seen.add((r.recipe, r.task))
            lines.append(f"{r.recipe} on {r.task}: {r.class_}: {r.reason}")
    for name, mix in result.mixtures.items():
        extra = ""
        if name in result.tokens and math.isfinite(result.tokens[name]):
            extra = f" (training tokens {result.tokens[name]:.2f}x the base's)"
        lines.append(f"mixture {name}{extra}: " + "; ".join(mix))
    return lines


def plot_induction(result, path: Path) -> Path | None:
    """Write induction_png to path (atomically); None when there is nothing to draw."""
    from ..store import write_atomic

    png = induction_png(result)
    if png is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, png)


def induction_png(result) -> bytes | None:
    """One panel per task: where the base (dashed line) and each recipe reach the common level,
    with the shift's interval, one marker per set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    tasks = sorted({r.task for r in result.records})
    recipes = list(dict.fromkeys(r.recipe for r in result.records))
    if not tasks:
        return None
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 0.9 + 0.8 * len(recipes)),
                             squeeze=False)
    for ax, task in zip(axes[0], tasks):
        rows = [r for r in result.records if r.task == task]
        bases = {}
        for r in rows:
            if r.x_base is not None:
                bases.setdefault(r.set, r.x_base)
        for i, recipe in enumerate(recipes):
            for j, set_name in enumerate(SET_LABEL):
                r = next((r for r in rows if r.recipe == recipe and r.set == set_name), None)
                if r is None or r.shift_decades is None or r.x_base is None:
                    continue
                y = i + (j - 1.5) * 0.15
                x = r.x_base * 10**r.shift_decades
                lo, hi = r.shift_ci or (None, None)
                xlo = r.x_base * 10**lo if lo is not None else x / 10
                xhi = r.x_base * 10**hi if hi is not None else x * 10
                ax.errorbar([x], [y], xerr=[[x - xlo], [xhi - x]], fmt="o", ms=4, capsize=2,
                            color=SET_COLOR[set_name], mfc=SET_COLOR[set_name]
                            if r.significant else "white",
                            label=SET_LABEL[set_name] if i == 0 else None)
        for set_name, xb in bases.items():
            ax.axvline(xb, color=SET_COLOR[set_name], lw=0.8, ls="--", alpha=0.7)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: num(v)))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_yticks(np.arange(len(recipes)), [f"{rc}\n{_cls(rows, rc)}" for rc in recipes])
        ax.set_ylim(len(recipes) - 0.5, -0.5)
        ax.set_xlabel("non-embedding parameters where the level is reached")
        ax.set_title(f"{task}: recipes vs base (dashed)", fontsize=10)
        ax.grid(True, axis="x", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.text(0.01, 0.01, f"{result.seeds} seed(s) per size; hollow: not significant",
             fontsize=7, color="#555")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _cls(rows, recipe) -> str:
    return next((r.class_ for r in rows if r.recipe == recipe), "")
