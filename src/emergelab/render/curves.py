"""PNG plots of analysed curves: points with intervals, the log-linear trend, the threshold and
its interval as a band; one file per (family, task, variant, shots), one panel per metric. And
two recipes' curves of one task on shared axes, read at their common level (`compare --plot`)."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..analysis.verdicts.compare import shift_text  # noqa: E402
from .plots import save_figure  # noqa: E402

Z95 = 1.959964  # error bars: 95% normal intervals of each point


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:120] or "curve"


def plot_curves(curves, out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    groups: dict[tuple, list] = {}
    for c in curves:
        groups.setdefault(tuple(c.keys.values()), []).append(c)
    paths = []
    for key, group in groups.items():
        cols = min(3, len(group))  # a grid, not a strip: readable at any number of metrics
        rows = -(-len(group) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
        for ax in axes.flat[len(group):]:
            ax.set_visible(False)
        for ax, c in zip(axes.flat, group):
            seeds = c.seed_points if c.multi_seed else {}
            for i, (xs, ys, _) in enumerate(seeds.values()):  # each seed a thin line
                ax.plot(xs, ys, color="grey", lw=0.7, alpha=0.5,
                        label=f"{len(seeds)} seeds" if i == 0 else None)
            ax.errorbar(c.x, c.y, yerr=Z95 * c.se, fmt="o", ms=4, capsize=2,
                        label="mean over seeds" if seeds else None)
            if len(c.x) >= 2:
                t = np.log10(c.x)
                coef = np.polyfit(t, c.y, 1)
                grid = np.linspace(t.min(), t.max(), 50)
                ax.plot(10**grid, np.polyval(coef, grid), color="grey", lw=1, ls="--",
                        label="log-linear")
            r = c.result
            if r.get("threshold_ci"):  # an open end runs to the edge of the plot
                lo, hi = r["threshold_ci"]
                ax.axvspan(lo if lo is not None else c.x.min() / 2,
                           hi if hi is not None else c.x.max() * 2, color="orange", alpha=0.25,
                           label="threshold 95% CI" + {"bracket": " (bracket)",
                                                       "seeds": " (recipe)"}.get(
                               r.get("threshold_ci_kind"), ""))
            if r.get("threshold"):
                ax.axvline(r["threshold"], color="orange")
            if c.baseline is not None:
                ax.axhline(c.baseline, color="red", lw=0.8, ls=":", label="baseline")
            ax.set_xscale("log")
            kind = f" ({r['emergence']})" if r.get("emergence") else ""
            why = f": {r['why']}" if r.get("why") else ""
            ax.set_title(f"{c.metric}: {r.get('classification', '')}{kind}{why}", fontsize=9)
            ax.set_xlabel(c.x_name)
        axes[0][0].legend(fontsize=7)
        keys = group[0].keys
        label = " ".join(str(v) for v in (keys.get("family"), keys.get("task")) if v)
        if keys.get("variant") not in (None, "plain"):
            label += f"/{keys['variant']}"
        if keys.get("shots"):
            label += f", {keys['shots']:g}-shot"
        fig.suptitle(label, fontsize=10)
        fig.tight_layout()
        paths.append(save_figure(fig, out_dir / f"{_slug(label)}.png", dpi=100))
    return paths


def _find(curves, task, variant, metric):
    return next((c for c in curves if str(c.keys.get("task")) == task
                 and c.keys.get("variant") == variant and c.metric == metric), None)


def plot_comparison(rows: list[dict], curves_a, curves_b, names: tuple[str, str],
                    out_dir: Path) -> list[Path]:
    """One PNG per compared task: both recipes' points with 95% intervals, the common level, and
    where each reaches it (an arrow past the largest model when it never does)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for r in rows:
        pair = [(_find(curves_a, r["task"], r["variant_a"], r["metric"]), names[0], "a", "C0"),
                (_find(curves_b, r["task"], r["variant_b"], r["metric"]), names[1], "b", "C3")]
        fig, ax = plt.subplots(figsize=(5.2, 3.6))
        ax.set_xscale("log")
        xs = np.concatenate([c.x for c, *_ in pair if c is not None])
        right = xs.max() * 1.5
        for c, name, side, color in pair:
            if c is None:
                continue
            label = f"{name} ({c.keys.get('variant')})"
            ax.errorbar(c.x, c.y, yerr=Z95 * c.se, fmt="o-", ms=4, capsize=2, color=color,
                        label=label)
            at = r.get(f"x_at_level_{side}")
            if at is not None:
                ax.axvline(at, color=color, ls="--", lw=1)
            elif r.get("level") is not None:  # never reached within the ladder: beyond it
                top = c.x.max()
                ax.annotate("not reached", xy=(top * 2.5, r["level"]), xytext=(top * 1.1, r["level"] + 0.04),
                            color=color, fontsize=7,
                            arrowprops={"arrowstyle": "->", "color": color})
                right = max(right, top * 3)
            if c.baseline is not None:
                ax.axhline(c.baseline, color="grey", lw=0.8, ls=":")
        if r.get("level") is not None:
            ax.axhline(r["level"], color="black", lw=0.8, label=f"common level {r['level']:.2f}")
        title = f"{r['task']} {r['metric']}"
        if r.get("shift_decades") is not None:
            title += f": shift {shift_text(r)} decade" + (" (significant)" if r["significant"] else "")
        ax.set_title(title, fontsize=9)
        ax.set_xlim(xs.min() / 1.5, right)
        ax.set_xlabel(next((c.x_name for c, *_ in pair if c is not None), "x"))
        ax.legend(fontsize=7)
        fig.tight_layout()
        paths.append(save_figure(fig, out_dir / f"compare_{_slug(r['task'])}_{_slug(r['metric'])}.png",
                                 dpi=100))
    return paths
