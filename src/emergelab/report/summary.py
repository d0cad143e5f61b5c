"""Text summaries of a run's results: the final-checkpoint table and the emergence read-out."""

from __future__ import annotations

import numpy as np
import pandas as pd
from rich.table import Table

from .plots import _task_label, normalised


def final_curves(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """task x params_nonembed -> metric value at the final checkpoint, averaged over seeds."""
    df = results[results["final_checkpoint"] & (results["metric"] == metric)]
    df = df.assign(label=df["task"].where(df["variant"] == "plain", df["task"] + "/" + df["variant"]))
    return df.pivot_table(index="params_nonembed", columns="label", values="value", aggfunc="mean")


def results_table(results: pd.DataFrame) -> Table:
    em = final_curves(results, "exact_match")
    acc = final_curves(results, "token_accuracy")
    table = Table(title="Final checkpoints: exact match (token accuracy)")
    table.add_column("non-embed params", justify="right")
    for col in em.columns:
        table.add_column(col, justify="right")
    for size in em.index:
        table.add_row(f"{int(size):,}", *(f"{em.loc[size, c]:.2f} ({acc.loc[size, c]:.2f})"
                                          for c in em.columns))
    return table


def largest_step_share(values: np.ndarray) -> float:
    """Share of the total rise carried by the largest single step between neighbours."""
    steps = np.diff(values)
    rise = values[-1] - values[0]
    return float(steps.max() / rise) if rise > 0 else float("nan")


def mirage_progress(results: pd.DataFrame, task: str, continuous: str) -> float:
    """How much of its range (baseline -> best) the continuous metric has covered at the largest
    size where exact match is still below half of its rise (normalised, seeds averaged)."""
    df = results[results["final_checkpoint"] & (results["task"] == task)]
    df = df.assign(norm=normalised(df))
    curve = df.groupby(["metric", "params_nonembed"])["norm"].mean().unstack(0).sort_index()
    em = curve["exact_match"].to_numpy()
    half = em[0] + (em.max() - em[0]) / 2
    before = np.nonzero(em < half)[0]
    return float(curve[continuous].to_numpy()[before.max()]) if len(before) else float("nan")


def findings(results: pd.DataFrame) -> list[str]:
    """Plain-language read-out per task: the exact-match rise, how concentrated it is, and for a
    concentrated rise how far the continuous metrics had already moved (the mirage contrast)."""
    em = final_curves(results, "exact_match")
    lines = []
    for label in em.columns:
        v = em[label].dropna().to_numpy()
        if len(v) < 3:
            continue
        share = largest_step_share(v)
        task = label.split("/")[0]
        text = (f"{label}: exact match {v[0]:.2f} -> {v[-1]:.2f} from {int(em.index[0]):,} to "
                f"{int(em.index[-1]):,} params; largest single step carries "
                f"{share:.0%} of the rise")
        if share > 0.6:
            acc = mirage_progress(results, task, "token_accuracy")
            lp = mirage_progress(results, task, "target_logprob_mean")
            text += (f" (a jump). Before exact match reached half its rise, token accuracy had "
                     f"covered {acc:.0%} and mean target log-prob {lp:.0%} of their range")
        lines.append(text)
    return lines


def eval_table(results: pd.DataFrame) -> Table:
    """One row per model, one column per task: the headline metric (exact match, or the
    multiple-choice grade) with its interval."""
    headline = results[results["metric"].isin(["exact_match", "multiple_choice_grade"])]
    headline = headline.assign(label=[_task_label(t, v) for t, v in
                                      zip(headline["task"], headline["variant"])])
    table = Table(title="Exact match / multiple-choice grade [95% interval]")
    table.add_column("model")
    table.add_column("params", justify="right")
    labels = sorted(headline["label"].unique())
    for label in labels:
        table.add_column(label, justify="right")
    models = headline.drop_duplicates("model_id").sort_values("params")
    for m in models.itertuples(index=False):
        rows = headline[headline["model_id"] == m.model_id].set_index("label")
        cells = [f"{rows.loc[lb, 'value']:.2f} [{rows.loc[lb, 'ci_low']:.2f}, "
                 f"{rows.loc[lb, 'ci_high']:.2f}]" if lb in rows.index else "" for lb in labels]
        table.add_row(str(m.model_id), f"{int(m.params):,}", *cells)
    return table
