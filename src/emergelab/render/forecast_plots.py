"""PNG plots of forecasts (`predict --plot`): the points fitted, the cutoff, the forecast with its
band, the held-out points as observed, and the forecast threshold with its interval (for the
finetune signal also the probes beside their emergence law, per k). And, for
observational scaling, each task's observed values against FLOPs beside both forecasts."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..analysis.forecasting.forecast import LEVEL, Forecast  # noqa: E402
from .curves import _slug  # noqa: E402
from .plots import task_label, save_figure  # noqa: E402


def plot_forecasts(forecasts: list[Forecast], out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in forecasts:
        if f.status == "insufficient" or not f.train:
            continue
        fig, ax = plt.subplots(figsize=(5.6, 3.8))
        g = f.grid
        if g:
            ax.fill_between(g["x"], g["low"], g["high"], color="tab:blue", alpha=0.18,
                            label=f"forecast, {LEVEL:.0%} band")
            ax.plot(g["x"], g["predicted"], color="tab:blue", lw=1.5,
                    label=f"forecast ({f.signal})")
        else:  # nothing below the cutoff moves: say so on the plot, draw no guess
            ax.text(0.03, 0.95, "\n".join(textwrap.wrap(f"no signal yet: {f.note}", 60)),
                    transform=ax.transAxes, fontsize=7, va="top", color="tab:red")
        ax.plot(f.train["x"], f.train["y"], "o", color="black", ms=5, label="fitted on")
        if f.law:  # the probes beside their law, one colour per k (k = 0 is the run itself)
            colours = plt.get_cmap("viridis")
            ks = [k for k in f.law["curves"] if k != "0"]
            for i, k in enumerate(ks):
                c = f.law["curves"][k]
                col = colours(0.15 + 0.7 * i / max(1, len(ks) - 1))
                ax.plot(c["x"], c["observed"], "^", color=col, ms=5,
                        label=f"fine-tuned, k = {k}")
                ax.plot(c["fit_x"], c["fit"], "-", color=col, lw=0.8, alpha=0.8)
        held = [p for p in f.points if p.held_out and p.observed is not None]
        if held:
            ax.plot([p.x for p in held], [p.observed for p in held], "o", mfc="white",
                    mec="tab:red", ms=6, label="held out (observed)")
        if f.train_below is not None:
            ax.axvline(f.train_below, color="grey", ls="--", lw=1, label="cutoff")
        if f.threshold_ci:
            lo, hi = f.threshold_ci
            ax.axvspan(lo if lo is not None else g["x"][0], hi if hi is not None else g["x"][-1],
                       color="orange", alpha=0.2, label=f"threshold {LEVEL:.0%} CI")
        if f.threshold is not None:
            ax.axvline(f.threshold, color="orange", lw=1.5, label="forecast threshold")
        ax.set_xscale("log")
        ax.set_xlabel(f.x)
        ax.set_ylabel(f.metric)
        k = f.keys
        label = " ".join(str(v) for v in (k["family"], task_label(k["task"], k["variant"]))
                         if v is not None)
        ax.set_title(f"{label}: {f.metric}", fontsize=9)
        if f.law:  # many entries over the probes: beside the axes, never over a point
            fig.set_size_inches(7.6, 3.8)
            ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        else:
            ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        paths.append(save_figure(fig, out_dir / f"forecast_{_slug(label + '_' + f.metric)}.png",
                                 dpi=100))
    return paths


def plot_obs(result, out_dir: Path) -> list[Path]:
    """One PNG per target task of an observational-scaling forecast."""
    cutoff = result.train_below
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for task, (flops, observed) in result.observed.items():
        fig, ax = plt.subplots(figsize=(5.6, 3.8))
        fit = flops < cutoff
        ax.plot(flops[fit], observed[fit], "o", color="black", ms=4, label="fitted on")
        ax.plot(flops[~fit], observed[~fit], "o", mfc="white", mec="black", ms=5,
                label="held out (observed)")
        rows = [f for f in result.forecasts if f.task == task]
        ax.plot([f.flops for f in rows], [f.predicted for f in rows], "x", color="tab:orange",
                ms=6, label="capability components")
        ax.plot([f.flops for f in rows], [f.baseline_predicted for f in rows], "+",
                color="tab:blue", ms=6, label="sigmoid in log FLOPs")
        ax.axvline(cutoff, color="grey", ls="--", lw=1, label="cutoff")
        ax.set_xscale("log")
        ax.set_xlabel("training FLOPs")
        ax.set_ylabel(task)
        mae, ref = result.mae.get(task), result.mae_logflops.get(task)
        if mae is not None:
            ax.set_title(f"{task}: held-out MAE {mae:.3g} (log-FLOPs sigmoid {ref:.3g})",
                         fontsize=9)
        ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        paths.append(save_figure(fig, out_dir / f"obs_{_slug(task)}.png", dpi=100))
    return paths

