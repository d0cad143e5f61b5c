"""Re-scoring stored samples: every metric recomputed from the samples table, no model needed.
This is what lets the analysis bootstrap over examples and lets any metric be added later."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config import load_config
from ..store import read_samples
from ..tasks import build_task
from .runner import sample_metrics


def per_example_scores(run_dir: Path, results: pd.DataFrame, x: str) -> pd.DataFrame:
    """Every metric of every stored sample of the checkpoints present in `results`, with that
    checkpoint's scale column x attached; one row per example and metric."""
    cfg = load_config(Path(run_dir) / "config.toml")
    tasks = {}
    for t in cfg.tasks:
        task = build_task(t.name, t.variant, **t.options)
        tasks[(task.name, task.variant)] = task
    keep = results[list(dict.fromkeys(["model_id", "step", x]))].drop_duplicates()
    samples = read_samples(run_dir).merge(
        keep, on=["model_id", "step"])
    rows = []
    for r in samples.itertuples(index=False):
        task = tasks.get((r.task, r.variant))
        if task is None:
            continue
        ms = sample_metrics(task, r.generated, r.target, r.answer, r.token_logprobs, r.token_hits,
                            getattr(r, "choice_logprobs", None), getattr(r, "choice_scores", None))
        for metric, value in ms.items():
            rows.append((r.task, r.variant, r.shots, metric, getattr(r, x), value))
    return pd.DataFrame(rows, columns=["task", "variant", "shots", "metric", x, "value"])
