"""Text summaries of a run's results: the final-checkpoint table and the emergence read-out."""

from __future__ import annotations

import numpy as np
import pandas as pd
from rich.table import Table

from ..evaluate.registry import HEADLINE
from ..numbers import num
from ..sources import final_rows
from .plots import task_label, fold_shots, normalised


def final_curves(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """task x params_nonembed -> metric value at the final checkpoint, averaged over seeds."""
    df = fold_shots(final_rows(results[results["metric"] == metric]))
    df = df.assign(label=[task_label(t, v) for t, v in zip(df["task"], df["variant"])])
    return df.pivot_table(index="params_nonembed", columns="label", values="value", aggfunc="mean")


def results_table(results: pd.DataFrame) -> Table:
    em = final_curves(results, "exact_match")
    acc = final_curves(results, "token_accuracy")
    table = Table(title="Final checkpoints: exact match (token accuracy)")
    table.add_column("non-embed params", justify="right")
    for col in em.columns:
        table.add_column(col, justify="right")
    for size in em.index:
        table.add_row(num(size), *(f"{em.loc[size, c]:.2f} ({acc.loc[size, c]:.2f})"
                                          for c in em.columns))
    return table


def mirage_progress(results: pd.DataFrame, task: str, variant, continuous: str,
                    before: float, shots=0) -> float:
    """How much of its range (baseline -> best) the continuous metric had covered at the largest
    size below `before` (normalised, seeds averaged); NaN when no size is below it."""
    df = final_rows(results[(results["task"] == task) & (results["variant"] == variant)
                            & (results["metric"] == continuous)])
    if "shots" in df.columns:
        df = df[df["shots"].fillna(0) == (shots or 0)]
    df = df[df["params_nonembed"] < before]
    if df.empty:
        return float("nan")
    curve = df.assign(norm=normalised(df)).groupby("params_nonembed")["norm"].mean().sort_index()
    return float(curve.iloc[-1])


def findings(results: pd.DataFrame, verdicts) -> list[str]:
    """Plain-language read-out per task, from the analysis' verdicts on exact match: the kind of
    emergence and its threshold; for a sharp rise, how far token accuracy and log-probability
    of the same outputs had already moved before it (the mirage contrast)."""
    lines = []
    for r in verdicts:
        if r.metric != "exact_match" or r.x != "params_nonembed":
            continue
        label = task_label(r.task, r.variant, getattr(r, "shots", None))
        text = f"{label}: {r.emergence + ' emergence' if r.emergence else r.classification}"
        if r.reason:  # the rule that decided it, with the width it read
            text += f" ({r.reason})"
        if r.threshold is not None:
            lo, hi = r.threshold_ci or (None, None)
            text += (f"; exact match crosses halfway at {num(r.threshold)} params "
                     f"(95% CI {num(lo) if lo else 'below the ladder'} to "
                     f"{num(hi) if hi else 'beyond the ladder'}"
                     f"{', between two members' if r.threshold_ci_kind == 'bracket' else ''})")
        text += _seed_text(r)
        if r.emergence in ("hard", "fake") and r.threshold is not None:
            k = getattr(r, "shots", 0)
            acc = mirage_progress(results, r.task, r.variant, "token_accuracy", r.threshold, k)
            lp = mirage_progress(results, r.task, r.variant, "target_logprob_mean", r.threshold,
                                 k)
            if np.isfinite(acc) and np.isfinite(lp):
                text += (f". Below that size token accuracy had covered {acc:.0%} and mean target "
                         f"log-prob {lp:.0%} of their range")
        lines.append(text)
    return lines


def _seed_text(r) -> str:
    """How many training seeds stand behind a verdict, and how many of them alone agree."""
    most = max((s["count"] for s in (getattr(r, "seeds", None) or [])), default=1)
    if getattr(r, "seed_variance", "not measured") != "measured":
        if most > 1:
            return (f" ({most} seeds, too few sizes each for a threshold per seed: its interval "
                    "covers evaluation noise only)")
        return " (one seed: this run's verdict; its interval covers evaluation noise only)"
    own = r.seed_verdicts or []
    agree = sum(v["emergence"] == r.emergence for v in own)
    text = f" ({len(own)} seeds; {agree} of {len(own)} alone say {r.emergence or 'no emergence'}"
    if r.seed_spread_decades is not None:
        text += f"; the seeds' own thresholds spread {r.seed_spread_decades:.2f} decades (SD)"
    return text + ")"


def eval_table(results: pd.DataFrame, metrics=HEADLINE,
               title: str = "Exact match / multiple-choice grade [95% interval]") -> Table:
    """One row per model, one column per task: the metric (by default the headline one: exact
    match, or the multiple-choice grade) with its interval; a missing value with an upper end
    (nothing solved when sampling until correct) shows as "< upper end"."""
    headline = results[results["metric"].isin(metrics)]
    headline = headline.assign(label=[task_label(t, v, k) for t, v, k in
                                      zip(headline["task"], headline["variant"],
                                          headline.get("shots", [0] * len(headline)))])
    table = Table(title=title)
    table.add_column("model")
    table.add_column("params", justify="right")
    labels = sorted(headline["label"].unique())
    for label in labels:
        table.add_column(label, justify="right")

    def cell(r) -> str:
        if pd.isna(r["value"]):
            return f"< {r['ci_high']:.2f}" if pd.notna(r["ci_high"]) else ""
        return f"{r['value']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"

    models = headline.drop_duplicates("model_id").sort_values("params")
    for m in models.itertuples(index=False):
        rows = headline[headline["model_id"] == m.model_id].set_index("label")
        table.add_row(str(m.model_id), num(m.params),
                      *(cell(rows.loc[lb]) if lb in rows.index else "" for lb in labels))
    return table
