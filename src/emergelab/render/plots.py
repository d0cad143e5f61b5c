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

from ..evaluate.registry import HEADLINE, REGISTRY, is_discrete  # noqa: E402
from ..sources import final_rows  # noqa: E402

CURVE_METRICS = ["exact_match", "token_accuracy", "target_logprob_mean", "token_edit_distance_norm",
                 "multiple_choice_grade", "brier_score"]


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
    # built as floats: Series.map on a string column may keep the string dtype
    best = pd.Series([REGISTRY[m].best if m in REGISTRY and REGISTRY[m].best is not None
                      else np.nan for m in df["metric"]], index=df.index, dtype=float)
    return (df["value"] - df["baseline"]) / (best - df["baseline"])


def task_label(task, variant, shots=None) -> str:
    label = str(task) if variant in ("plain", None) else f"{task}/{variant}"
    try:
        return label + (f" {int(shots)}-shot" if shots and shots == shots else "")
    except (TypeError, ValueError):
        return label


def fold_shots(df: pd.DataFrame) -> pd.DataFrame:
    """Shot counts folded into the variant, for displays keyed by (task, variant): 'add1' at
    2 shots shows as add1/2-shot, beside its 0-shot curve rather than averaged into it."""
    if "shots" not in df.columns:
        return df
    k = pd.to_numeric(df["shots"], errors="coerce").fillna(0).astype(int)
    tag = k.map(lambda v: f"{v}-shot")
    variant = df["variant"].fillna("plain").astype(str)
    folded = variant.where(k == 0, tag.where(variant == "plain", variant + " " + tag))
    return df.assign(variant=folded)


def _mean_over_seeds(df: pd.DataFrame, x: str) -> pd.DataFrame:
    df = df.assign(norm=normalised(df))
    return df.groupby(["task", "variant", "metric", x], as_index=False)["norm"].mean()


def _headline(results: pd.DataFrame) -> pd.DataFrame:
    """Each task's headline metric: exact match, or the multiple-choice grade."""
    generative, multiple_choice = HEADLINE
    mc = set(results.loc[results["metric"] == multiple_choice, "task"])
    want = np.where(results["task"].isin(mc), multiple_choice, generative)
    return results[results["metric"] == want]


def _ylim(ax, values) -> None:
    lo = float(np.nanmin(values)) if len(values) else 0.0
    ax.set_ylim(min(-0.1, lo - 0.05), 1.05)  # below-chance dips (U-shapes) stay visible


def plot_size_curves(results: pd.DataFrame, path: Path, verdicts=None) -> Path:
    """One panel per task, x = non-embedding parameters (log), one line per metric, final
    checkpoints, seeds averaged; with several training seeds each seed is a thin line under the
    mean, and a second row shows the emergence probability (the share of seeds past the
    threshold level at each size, with its interval) from the analysis' verdicts on exact match
    or the multiple-choice grade."""
    final = fold_shots(final_rows(results[results["metric"].isin(CURVE_METRICS)]))
    df = _mean_over_seeds(final, "params_nonembed")
    seeded = "seed" in final.columns and final["seed"].nunique() > 1
    keys = list(df[["task", "variant"]].drop_duplicates().itertuples(index=False))
    prob = _probabilities(verdicts) if seeded else {}
    rows = 2 if prob else 1
    fig, axes = plt.subplots(rows, len(keys), figsize=(4.2 * len(keys), 3.6 * rows),
                             squeeze=False, sharex="col")
    colors = dict(zip(CURVE_METRICS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for ax, (task, variant) in zip(axes[0], keys):
        sub = df[(df.task == task) & (df.variant == variant)]
        for metric in CURVE_METRICS:
            line = sub[sub.metric == metric].sort_values("params_nonembed")
            if not len(line):
                continue
            if seeded:
                own = final[(final.task == task) & (final.variant == variant)
                            & (final.metric == metric)]
                for _, g in own.assign(norm=normalised(own)).groupby("seed"):
                    g = g.sort_values("params_nonembed")
                    ax.plot(g.params_nonembed, g.norm, color=colors[metric], lw=0.7, alpha=0.35)
            ax.plot(line.params_nonembed, line.norm, marker="o", label=metric,
                    color=colors[metric], lw=2.2 if is_discrete(metric) else 1.4)
        ax.set_xscale("log")
        ax.axhline(0, color="grey", lw=0.8, ls=":")
        _ylim(ax, sub.norm)
        ax.set_title(task_label(task, variant))
        ax.set_xlabel("non-embedding parameters")
        ax.legend(fontsize=7, loc="best")
    axes[0][0].set_ylabel("normalised score (0 = chance, 1 = perfect)")
    if prob:
        for ax, (task, variant) in zip(axes[1], keys):
            p = prob.get((task, variant))
            if p is not None:
                x = [q["x"] for q in p]
                share = np.array([q["share"] for q in p])
                err = np.array([[s - q["ci"][0], q["ci"][1] - s] for s, q in zip(share, p)]).T
                ax.errorbar(x, share, yerr=err, marker="s", color="black", capsize=3, lw=1.2)
            ax.set_xscale("log")
            ax.set_ylim(-0.05, 1.05)
            ax.set_xlabel("non-embedding parameters")
            ax.set_title("share of seeds past the threshold level", fontsize=9)
        axes[1][0].set_ylabel("emergence probability (95% CI)")
    n_seeds = final["seed"].nunique() if seeded else 1
    fig.suptitle("Emergence with scale (final checkpoints"
                 + (f"; {n_seeds} training seeds: thin lines, mean bold)" if seeded else
                    "; one training seed)"))
    fig.tight_layout()
    return save_figure(fig, path)


def _probabilities(verdicts) -> dict:
    """(task, variant as displayed) -> emergence probability of its headline metric."""
    out = {}
    for r in verdicts or []:
        if r.metric in HEADLINE and getattr(r, "emergence_probability", None):
            variant = r.variant if not r.shots else (
                f"{int(r.shots)}-shot" if r.variant in (None, "plain") else
                f"{r.variant} {int(r.shots)}-shot")
            out[(r.task, variant if variant is not None else "plain")] = r.emergence_probability
    return out


def plot_step_curves(results: pd.DataFrame, path: Path, metric: str = "headline") -> Path:
    """One panel per task, x = training step (symlog, step 0 included), one line per model,
    coloured from small (light) to large (dark). metric "headline": exact match or the
    multiple-choice grade; `icl_score` is drawn raw (nats), others normalised."""
    df = _headline(results) if metric == "headline" else results[results["metric"] == metric]
    df = fold_shots(df)
    raw = metric == "icl_score"
    df = df.assign(norm=df["value"] if raw else normalised(df))
    df = df.groupby(["task", "variant", "model_id", "params_nonembed", "step"],
                    as_index=False)["norm"].mean()
    keys = list(df[["task", "variant"]].drop_duplicates().itertuples(index=False))
    models = df.drop_duplicates("model_id").sort_values("params_nonembed")["model_id"].tolist()
    colors = dict(zip(models, plt.cm.viridis(np.linspace(0.9, 0.1, len(models)))))
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6), squeeze=False)
    for ax, (task, variant) in zip(axes[0], keys):
        for model in models:
            line = df[(df.task == task) & (df.variant == variant) & (df.model_id == model)]
            line = line.sort_values("step")
            if len(line):
                ax.plot(line.step, line.norm, marker=".", color=colors[model], label=model)
        ax.set_xscale("symlog", linthresh=1)
        if not raw:
            _ylim(ax, df.norm)
        ax.set_title(task_label(task, variant))
        ax.set_xlabel("training step")
    label = "exact match / MC grade" if metric == "headline" else metric
    axes[0][0].set_ylabel(f"{label}" + ("" if raw else " (normalised)"))
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.suptitle(f"Over training: {label}")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_generalisation(results: pd.DataFrame, task: str, path: Path) -> Path:
    """A task evaluated on trained and on held-out items (variants `train` and `test`) over
    steps, one panel per model: memorisation first, generalisation later (grokking)."""
    df = results[(results["task"] == task) & (results["metric"] == "exact_match")]
    models = df.drop_duplicates("model_id").sort_values("params_nonembed")["model_id"].tolist()
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.6), squeeze=False)
    for ax, model in zip(axes[0], models):
        sub = df[df["model_id"] == model]
        for variant, style in (("train", "--"), ("test", "-")):
            line = sub[sub["variant"] == variant].sort_values("step")
            ax.plot(line.step, line.value, ls=style, marker=".",
                    label="trained pairs" if variant == "train" else "held-out pairs")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{task}: {model}")
        ax.set_xlabel("training step")
        ax.legend(fontsize=8, loc="upper left")
    axes[0][0].set_ylabel("exact match")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_depth_curves(results: pd.DataFrame, path: Path) -> Path:
    """Headline metric against parameters, one line per depth (when the ladder varies depth at
    a fixed width: e.g. 1- against 2-layer members on in-context learning)."""
    df = fold_shots(_headline(final_rows(results)))
    keys = list(df[["task", "variant"]].drop_duplicates().itertuples(index=False))
    fig, axes = plt.subplots(1, len(keys), figsize=(4.6 * len(keys), 3.6), squeeze=False)
    for ax, (task, variant) in zip(axes[0], keys):
        sub = df[(df.task == task) & (df.variant == variant)]
        for depth, g in sub.groupby("n_layer"):
            g = g.groupby("params_nonembed", as_index=False)[["value", "baseline"]].mean()
            ax.plot(g.params_nonembed, g.value, marker="o", label=f"{depth} layer(s)")
        if len(sub):
            ax.axhline(sub["baseline"].mean(), color="grey", lw=0.8, ls=":", label="baseline")
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(task_label(task, variant))
        ax.set_xlabel("non-embedding parameters")
        ax.legend(fontsize=8, loc="best")
    axes[0][0].set_ylabel("exact match / MC grade")
    fig.tight_layout()
    return save_figure(fig, path)


def write_plots(results: pd.DataFrame, out_dir: Path, verdicts=None) -> list[Path]:
    """The run's PNGs; verdicts (analyze's results) add the emergence-probability row."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    if results["params_nonembed"].nunique() > 1:
        paths.append(plot_size_curves(results, out_dir / "emergence_size.png", verdicts))
    if results.groupby("d_model")["n_layer"].nunique().max() > 1:
        paths.append(plot_depth_curves(results, out_dir / "depth.png"))
    if results["step"].nunique() > 1:
        paths.append(plot_step_curves(results, out_dir / "emergence_steps_exact_match.png"))
        paths.append(plot_step_curves(results, out_dir / "emergence_steps_token_accuracy.png",
                                      "token_accuracy"))
        if (results["metric"] == "icl_score").any():
            paths.append(plot_step_curves(results, out_dir / "icl_score_steps.png", "icl_score"))
        for task in sorted(results["task"].unique()):
            if {"train", "test"} <= set(results.loc[results["task"] == task, "variant"]):
                paths.append(plot_generalisation(results, task, out_dir / f"{task}_train_vs_test.png"))
    return paths
