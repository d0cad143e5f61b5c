"""Emergence curves as PNG.

Each metric is drawn normalised between its random baseline (0) and its best possible value (1),
so exact match, token accuracy, edit distance and log-probability share one axis and the
"mirage" contrast (a continuous metric rising long before exact match) is visible at a glance.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..evaluate.metrics import ALL_METRICS  # noqa: E402

CURVE_METRICS = ["exact_match", "token_accuracy", "target_logprob_mean", "token_edit_distance_norm"]


def save_figure(fig, path: Path, dpi: int = 110) -> Path:
    """Save under a temporary name, then rename: a killed run never leaves half a PNG."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}")
    fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    tmp.replace(path)
    return path


def normalised(df: pd.DataFrame) -> pd.Series:
    """(value - baseline) / (best - baseline): 0 at chance, 1 at perfect, for either direction."""
    best = df["metric"].map(lambda m: ALL_METRICS.get(m, (None, None, np.nan))[2])
    return (df["value"] - df["baseline"]) / (best - df["baseline"])


def _task_label(task: str, variant: str) -> str:
    return task if variant in ("plain", None) else f"{task}/{variant}"


def _mean_over_seeds(df: pd.DataFrame, x: str) -> pd.DataFrame:
    df = df.assign(norm=normalised(df))
    return df.groupby(["task", "variant", "metric", x], as_index=False)["norm"].mean()


def plot_size_curves(results: pd.DataFrame, path: Path) -> Path:
    """One panel per task, x = non-embedding parameters (log), one line per metric, final
    checkpoints, seeds averaged."""
    df = results[results["final_checkpoint"] & results["metric"].isin(CURVE_METRICS)]
    df = _mean_over_seeds(df, "params_nonembed")
    keys = list(df[["task", "variant"]].drop_duplicates().itertuples(index=False))
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6), squeeze=False)
    for ax, (task, variant) in zip(axes[0], keys):
        sub = df[(df.task == task) & (df.variant == variant)]
        for metric in CURVE_METRICS:
            line = sub[sub.metric == metric].sort_values("params_nonembed")
            if len(line):
                ax.plot(line.params_nonembed, line.norm, marker="o", label=metric,
                        lw=2.2 if metric == "exact_match" else 1.4)
        ax.set_xscale("log")
        ax.axhline(0, color="grey", lw=0.8, ls=":")
        ax.set_ylim(-0.1, 1.05)
        ax.set_title(_task_label(task, variant))
        ax.set_xlabel("non-embedding parameters")
    axes[0][0].set_ylabel("normalised score (0 = chance, 1 = perfect)")
    axes[0][-1].legend(fontsize=8, loc="lower right")
    fig.suptitle("Emergence with scale (final checkpoints)")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_step_curves(results: pd.DataFrame, path: Path, metric: str = "exact_match") -> Path:
    """One panel per task, x = training step (symlog, step 0 included), one line per model size,
    coloured from small (light) to large (dark)."""
    df = results[results["metric"] == metric]
    df = df.assign(norm=normalised(df))
    df = df.groupby(["task", "variant", "params_nonembed", "step"], as_index=False)["norm"].mean()
    keys = list(df[["task", "variant"]].drop_duplicates().itertuples(index=False))
    sizes = sorted(df.params_nonembed.unique())
    colors = plt.cm.viridis(np.linspace(0.9, 0.1, len(sizes)))
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6), squeeze=False)
    for ax, (task, variant) in zip(axes[0], keys):
        for size, color in zip(sizes, colors):
            line = df[(df.task == task) & (df.variant == variant) & (df.params_nonembed == size)]
            line = line.sort_values("step")
            ax.plot(line.step, line.norm, marker=".", color=color, label=f"{size / 1e3:.0f}K")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_ylim(-0.1, 1.05)
        ax.set_title(_task_label(task, variant))
        ax.set_xlabel("training step")
    axes[0][0].set_ylabel(f"{metric} (normalised)")
    axes[0][-1].legend(fontsize=7, title="params", loc="upper left")
    fig.suptitle(f"Emergence over training: {metric}")
    fig.tight_layout()
    return save_figure(fig, path)


def write_plots(results: pd.DataFrame, out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [plot_size_curves(results, out_dir / "emergence_size.png")]
    if results["step"].nunique() > 1:
        paths.append(plot_step_curves(results, out_dir / "emergence_steps_exact_match.png"))
        paths.append(plot_step_curves(results, out_dir / "emergence_steps_token_accuracy.png",
                                      "token_accuracy"))
    return paths
