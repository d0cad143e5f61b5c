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
    from .plots import task_label

    head = " ".join(str(v) for v in (r.family, task_label(r.task, r.variant)) if v)
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


def forecast_table(p, source, train_below) -> tuple[StackedTable, list[str]]:
    """`predict`'s table: a heading per curve; per metric a row with its signal and threshold,
    then a row per forecast point (at x: the forecast and its interval, the observed value marked
    '!' where it falls outside); a metric without a forecast says why under the table."""
    from ..analysis.forecasting.forecast import LEVEL
    from ..evaluate.registry import short_name
    from ..numbers import num
    from .plots import task_label

    pct = f"{LEVEL:.0%}"
    cut = f", fitted below {num(train_below)}" if train_below is not None else ""
    cols = [("metric", "left"), ("signal / at x", "left"),
            (f"threshold / forecast [{pct}]", "right"), ("observed", "right")]
    table = StackedTable(f"Forecasts for {source} (x = {p.x}{cut})", cols)
    groups: dict[str, list[list[str]]] = {}
    shortened, outside, reasons = {}, 0, []
    for f in p.forecasts:
        k = f.keys
        head = " ".join(str(v) for v in (k.get("family"), task_label(k.get("task"),
                                                                        k.get("variant"))) if v)
        if k.get("shots"):
            head += f" {k['shots']:g}-shot"
        label = short_name(f.metric)
        if label != f.metric:
            shortened[label] = f.metric
        rows = groups.setdefault(head, [])
        if f.status != "forecast":
            rows.append([label, f.status, "", ""])
            if f.note:
                reasons.append(f"{head}, {label}: {f.status}: {f.note}")
            continue
        thr = num(f.threshold) or ("beyond reach" if f.threshold_ci else "")
        if f.threshold_ci:
            lo, hi = f.threshold_ci
            thr += f" [{num(lo) or '<'}, {num(hi) or '>'}]"
        rows.append([label, f.signal, thr, ""])
        if f.law:
            law = f.law
            reasons.append(f"{head}, {label}: emergence law of probes fine-tuned on k = "
                           f"{', '.join(map(str, law['k']))} examples: the threshold moves "
                           f"{law['beta']:.2f} decades per decade of k past k0 = "
                           f"{num(law['k0'])}" + (f"; {f.note}" if f.note else ""))
        for pt in f.points:
            obs = ""
            if pt.observed is not None:
                miss = not pt.interval[0] <= pt.observed <= pt.interval[1]
                outside += miss
                obs = f"{pt.observed:.3g}" + ("!" if miss else "")
            rows.append(["", f"at {num(pt.x)}",
                         f"{pt.predicted:.3g} [{pt.interval[0]:.3g}, {pt.interval[1]:.3g}]", obs])
    for head, rows in groups.items():
        table.add_group(head, rows)
    legend = ["threshold: where the forecast crosses halfway from the lower level to the "
              "metric's best value; '>': beyond what the forecast reaches"]
    if outside:
        legend.append(f"!: observed outside the forecast's {pct} interval ({outside} point"
                      f"{'s' if outside > 1 else ''})")
    if shortened:
        legend.append("metrics: " + ", ".join(f"{k} = {v}" for k, v in shortened.items()))
    legend += reasons
    return table, legend


def obs_table(r, train_below: float) -> StackedTable:
    """`obs-scaling`: a heading per task (names are long), its counts and errors beneath."""
    shares = ", ".join(f"{v:.0%}" for v in r.explained)
    table = StackedTable(f"Observational scaling: models with < {train_below:.3g} FLOPs fitted, "
                         f"the rest forecast (components explain {shares})",
                         [("fitted on", "right"), ("held out", "right"),
                          ("MAE capability components", "right"),
                          ("MAE sigmoid in log FLOPs", "right")])
    held: dict[str, int] = {}
    for f in r.forecasts:
        held[f.task] = held.get(f.task, 0) + (f.observed is not None)

    def err(v) -> str:
        return "" if v is None else f"{v:.3f}"

    for task in r.n_train:
        table.add_group(task, [[str(r.n_train[task]), str(held.get(task, 0)),
                                err(r.mae.get(task)), err(r.mae_logflops.get(task))]])
    acc = [t for t in r.mae if r.scaled[t] == 1.0]
    if len(acc) > 1:
        table.add_group(f"mean of {len(acc)} accuracy columns",
                        [["", "", f"{sum(r.mae[t] for t in acc) / len(acc):.3f}",
                          f"{sum(r.mae_logflops[t] for t in acc) / len(acc):.3f}"]])
    return table


def shots_table(gains, source) -> tuple[StackedTable, list[str]]:
    """`emergelab shots`: a heading per curve (family task metric at k shots), each model's row
    beneath, and a line per curve saying from which size up the gain is positive."""
    from itertools import groupby

    from ..analysis.verdicts.in_context import emerges_at
    from ..numbers import num
    from .plots import task_label

    table = StackedTable(f"Few-shot gain over 0-shot (k-shot minus 0-shot) in {source}",
                         [("model", "left"), ("params", "right"), ("0-shot", "right"),
                          ("k-shot", "right"), ("gain", "right"), ("95% CI", "right")])
    lines = []
    for key, grp in groupby(gains, key=lambda g: (g.family, g.task, g.variant, g.metric,
                                                  g.shots)):
        grp = list(grp)
        name = " ".join(str(v) for v in (key[0], task_label(key[1], key[2]), key[3]) if v)
        rows = [[g.model, num(g.params) if g.params else "", f"{g.zero_shot:.2f}",
                 f"{g.score:.2f}", f"{g.gain:+.2f}",
                 f"[{g.gain_ci[0]:+.2f}, {g.gain_ci[1]:+.2f}]" if g.gain_ci else ""]
                for g in sorted(grp, key=lambda g: g.params or 0)]
        table.add_group(f"{name}, {key[4]} shots", rows)
        at = emerges_at(grp)
        lines.append(f"- {name} at {key[4]} shots: " + (
            f"the gain is positive from {num(at)} parameters up" if at else
            "no size range with a positive gain (interval above zero)"))
    return table, lines

