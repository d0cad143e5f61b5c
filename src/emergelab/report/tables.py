"""Tables for a terminal of any width: a heading line per group (a curve: family, task, variant)
and under it one row per entry, every cell on one line at its column's width — no word split
across lines, no number cut short. A heading longer than the terminal wraps at spaces, as prose
does; rows never wrap."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field


@dataclass
class StackedTable:
    title: str
    columns: list[tuple[str, str]]          # (title, "left" | "right")
    groups: list[tuple[str, list[list[str]]]] = field(default_factory=list)
    indent: int = 2
    gap: int = 2

    def add_group(self, heading: str, rows: list[list[str]]) -> None:
        self.groups.append((heading, rows))

    def widths(self) -> list[int]:
        cells = [[t for t, _ in self.columns]] + [r for _, rows in self.groups for r in rows]
        return [max(len(r[i]) for r in cells) for i in range(len(self.columns))]

    def width(self) -> int:
        """Columns a row needs (headings wrap, rows do not)."""
        w = self.widths()
        return self.indent + sum(w) + self.gap * (len(w) - 1)

    def lines(self, width: int) -> list[str]:
        w = self.widths()

        def row(cells: list[str]) -> str:
            out = [c.rjust(wi) if just == "right" else c.ljust(wi)
                   for c, wi, (_, just) in zip(cells, w, self.columns)]
            return (" " * self.indent + (" " * self.gap).join(out)).rstrip()

        lines = textwrap.wrap(self.title, width) + [row([t for t, _ in self.columns])]
        for heading, rows in self.groups:
            lines += textwrap.wrap(heading, width, subsequent_indent="  ")
            lines += [row(r) for r in rows]
        return lines

    def render(self, console) -> None:
        for line in self.lines(console.width):
            console.print(line, highlight=False, markup=False, soft_wrap=True)


VERDICT = {"emergent": "hard", "metric_induced": "fake"}


def verdict_text(r) -> str:
    """The class and kind of emergence in one word: hard, fake, soft @x (where the usefulness
    level is crossed), or the class (smooth, flat, inverse, u_shaped, insufficient)."""
    from ..numbers import num

    if r.emergence == "soft" and r.useful_at is not None:
        return f"soft @{num(r.useful_at)}"
    return VERDICT.get(r.classification, r.classification)


def width_text(r) -> str:
    """The 10-90% rise as the verdict read it: one seed's rise with seeds (*), at most the gap
    between two members when the rise lies inside it (<)."""
    if r.seed_variance == "measured" and r.seed_width_decades is not None:
        return f"{r.seed_width_decades:.2f}*"
    if r.width_decades is None:
        return ""
    mark = {"at most": "<", "at least": ">"}.get(r.width_bound, "")
    return f"{mark}{r.width_decades:.2f}"


def threshold_text(r) -> str:
    from ..numbers import num

    if r.threshold is None:
        return ""
    text = num(r.threshold)
    if r.threshold_ci:
        lo, hi = r.threshold_ci
        text += f" [{num(lo) or '<'}, {num(hi) or '>'}]"
        if r.threshold_ci_kind == "bracket":
            text += "b"
    return text


def curve_heading(r) -> str:
    from .plots import _task_label

    head = " ".join(str(v) for v in (r.family, _task_label(r.task, r.variant)) if v)
    if r.shots:
        head += f" {r.shots:g}-shot"
    if r.seed_variance == "measured":
        counts = sorted({s["count"] for s in r.seeds or []})
        k = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
        head += f"  ({k} seeds per size"
        if r.seed_spread_decades is not None:
            head += f", their thresholds' SD {r.seed_spread_decades:.2f} decades"
        head += ")"
    return head


def analysis_table(a, backtest: bool = False) -> tuple[StackedTable, list[str]]:
    """`analyze`'s table (one heading per curve, a row per metric) and the legend under it."""
    from ..evaluate.registry import short_name

    cols = [("metric", "left"), ("verdict", "left"), ("threshold [95% CI]", "right"),
            ("width", "right"), ("why", "left")] + ([("backtest", "right")] if backtest else [])
    table = StackedTable(f"Emergence analysis of {a.source} (x = {a.x})", cols)
    groups: dict[str, list[list[str]]] = {}
    shortened = {}
    for r in a.results:
        label = short_name(r.metric)
        if label != r.metric:
            shortened[label] = r.metric
        row = [label, verdict_text(r), threshold_text(r), width_text(r), r.why]
        if backtest:
            row.append(f"{r.backtest_error:.3g}" if r.backtest_error is not None
                       else (r.backtest_signal or ""))
        groups.setdefault(curve_heading(r), []).append(row)
    for heading, rows in groups.items():
        table.add_group(heading, rows)
    legend = ["verdict: hard / fake / soft @x (crosses the usefulness level at x) or the class; "
              "why: the rule that decided it (--json: reason). width: 10-90% rise in decades "
              "(<: inside the gap between two members; >: wider than the ladder, only part of the rise "
              "is seen; *: one seed's rise)"]
    if any(r.threshold_ci_kind == "bracket" for r in a.results):
        legend.append("b: the interval is the gap between two neighbouring models: the rise "
                      "happens between them and no model on it locates it more finely")
    if shortened:
        legend.append("metrics: " + ", ".join(f"{k} = {v}" for k, v in shortened.items()))
    if any(r.seed_variance == "measured" for r in a.results):
        legend.append("with seeds the threshold is the recipe's (the mean over seeds) and its "
                      "interval holds the seed-to-seed variation")
    return table, legend
