"""EmergeLab as a Python library: the commands' work, tables in, typed results out.

    import emergelab as el

    study = el.run("quick", out="runs/quick")     # a preset's name, a TOML file or a config
    verdicts = el.analyze(study.out)              # or a CSV, a dataset's name, a DataFrame
    verdicts.to_frame()[["task", "metric", "classification", "threshold", "why"]]
    el.predict("pythia", where="shots = 0", train_below=1e9).to_frame()
    el.compare("runs/direct", "runs/cot").to_frame()
    el.report(study.out, "report.html")
    el.fit_chinchilla("chinchilla", bootstrap=1000).params

Wherever a table is read, `source` is a run or suite directory, a CSV or Parquet file in the
results schema (or lm-evaluation-harness / BIG-bench output), a dataset's name (`emergelab
datasets`) or a pandas DataFrame. Every result has `to_json()` (what the command's --json prints)
and `to_frame()`. Errors a caller can cause raise `emergelab.UserError` with one line of text.
Heavy modules (torch, the analysis) are imported by the function that needs them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Union

from .errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from .analysis.verdicts.analyze_source import Analysis
    from .analysis.laws.chinchilla import ChinchillaFit
    from .analysis.laws.power_laws import CurveFit
    from .analysis.forecasting.predict_source import Prediction

Source = Union[str, Path, "pd.DataFrame"]

__all__ = ["RunResult", "Comparison", "run", "analyze", "compare", "predict", "report",
           "fit_chinchilla", "fit_kaplan", "fit_points"]


@dataclass
class RunResult:
    """What `run` trained and evaluated: out, and one run directory per experiment (a suite has
    several; a single ladder's is out itself)."""

    out: Path
    runs: list[Path]

    def to_json(self) -> dict:
        return {"out": str(self.out), "runs": [str(r) for r in self.runs]}

    def to_frame(self) -> "pd.DataFrame":
        """The results table of every run (one row per checkpoint x task x metric)."""
        import pandas as pd

        from .store import read_results

        return pd.concat([read_results(r) for r in self.runs], ignore_index=True)


@dataclass
class Comparison:
    """Threshold shifts of every task from recipe A to recipe B (analysis/verdicts/compare.py): one
    record per matched curve; shift_decades < 0 means B reaches the common level earlier."""

    metric: str
    x: str
    rows: list[dict]
    curves_a: list = field(repr=False, default_factory=list)
    curves_b: list = field(repr=False, default_factory=list)

    def to_json(self) -> list[dict]:
        return self.rows

    def to_frame(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame(self.rows)


def _config(config):
    """A RunConfig / SuiteConfig as given, a TOML file's, or a preset's (by name)."""
    from .config import RunConfig, SuiteConfig, load_config, load_preset

    if isinstance(config, (RunConfig, SuiteConfig)):
        return config
    path = Path(config)
    return load_config(path) if path.suffix == ".toml" or path.is_file() else load_preset(str(config))


def run(config, out: str | Path, seeds: int | None = None, backend: str = "local",
        workers: int | None = None, threads: int | None = None, address: str | None = None,
        retries: int | None = None, device: str = "auto", quiet: bool = False) -> RunResult:
    """Train and evaluate a ladder (or a suite) into out; resumes where out holds this run, and
    only reads a finished one. config: a preset's name, a TOML file or a config object; seeds:
    training seeds per size (overrides the config's). A progress bar goes to stderr unless
    quiet."""
    from .config import with_seeds
    from .execute import backend_named
    from .pipeline import run_any

    chosen = backend_named(backend, workers, threads, address, retries)
    cfg = with_seeds(_config(config), seeds)
    dirs = run_any(cfg, Path(out), quiet=quiet, backend=chosen, device=device)
    return RunResult(Path(out), dirs)


def analyze(source: Source, **options) -> "Analysis":
    """Classify every (family, task, variant, shots, metric) curve of source: emergence kind,
    threshold with its interval, width and the rule that decided. Options as
    analysis.verdicts.analyze_source.analyze (x, where, pool_families, backtest, hard_width, useful,
    arms, ci_level)."""
    from .analysis.verdicts.analyze_source import analyze as analyze_source

    return analyze_source(source, **options)


def compare(a: Source, b: Source, metric: str = "exact_match", x: str | None = None,
            where: str | None = None, seed_spread: float | None = None) -> Comparison:
    """How many decades earlier or later each task emerges in b than in a, read at one common
    level, with a seed-aware interval and a significance call (analysis/verdicts/compare.py)."""
    from .analysis.verdicts.analyze_source import analyze as analyze_source
    from .analysis.verdicts.compare import compare_thresholds
    from .evaluate.registry import spec
    from .sources import source_label

    spec(metric)  # an unknown metric fails before any work
    if seed_spread is not None and not (seed_spread >= 0 and math.isfinite(seed_spread)):
        raise UserError("the seed spread must be a non-negative number of decades")
    va = analyze_source(a, x=x, where=where)
    vb = analyze_source(b, x=va.x, where=where)
    rows = compare_thresholds(va.curves, vb.curves, metric, seed_spread)
    if not rows:
        there = sorted({c.metric for c in va.curves} & {c.metric for c in vb.curves})
        raise UserError(f"no task has a {metric} curve in both {source_label(a)} and "
                        f"{source_label(b)}" + (f" (metrics in both: {', '.join(there)})"
                                                if there else ""))
    return Comparison(metric, va.x, rows, va.curves, vb.curves)


def predict(source: Source, finetune: bool = False, **options) -> "Prediction":
    """Forecast every curve from its smaller members (train_below) or beyond the ladder (at);
    each forecast names its signal or says "no signal yet". Options as
    analysis.forecasting.predict_source.predict (x, where, train_below, at, signal, seed).
    finetune: first fine-tune the members below train_below on the tasks no passive signal
    reads (probing.predict_with_probes: grid, steps, backend, device)."""
    if finetune:
        from .probing import predict_with_probes

        return predict_with_probes(source, **options)
    from .analysis.forecasting.predict_source import predict as predict_source

    return predict_source(source, **options)


def report(source: Source, out: str | Path, title: str | None = None,
           where: str | None = None) -> Path:
    """Write the offline HTML report of source to out (one file, atomically); returns out."""
    from .render.html import build_report

    return build_report(source, out, title=title, where=where)


def fit_points(source: Source, x: str, y: str, where: str | None = None,
               checkpoints: str = "final") -> tuple["pd.DataFrame", str]:
    """The rows a scaling-law fit reads, and the y column it uses: for a run directory one row
    per checkpoint, its loss being val_loss; only each model's final checkpoint unless
    checkpoints == "all"."""
    from .sources import final_rows, load_table, numeric_column, run_source

    if checkpoints not in ("final", "all"):
        raise UserError(f"`checkpoints` is final or all, not {checkpoints!r}")
    df = load_table(source, where)
    if run_source(source) is not None:  # a run: one row per checkpoint, not per task x metric
        if y == "loss":
            y = "val_loss"
        keys = [k for k in ("family", "model_id", "step") if k in df.columns]
        df = df.drop_duplicates(keys)
    if checkpoints == "final":
        df = final_rows(df)
    df = df.copy()
    for col in (x, y):
        df[col] = numeric_column(df, col, source)
    return df, y


def fit_chinchilla(points: Source, where: str | None = None, bootstrap: int = 1000,
                   seed: int = 0, checkpoints: str = "final") -> "ChinchillaFit":
    """L(N, D) = E + A/N^alpha + B/D^beta (Hoffmann et al. Approach 3 as Epoch replicated it)
    on points with params, tokens and loss columns (or a run's checkpoints), with bootstrap
    intervals."""
    from .analysis.laws.chinchilla import fit_chinchilla as fit
    from .sources import numeric_column, run_source

    df, y = fit_points(points, "params", "loss", where, checkpoints)
    df = df.assign(tokens=numeric_column(df, "tokens", points))
    if run_source(points) is not None:
        df = df[df["tokens"] > 0]  # step 0 has seen no tokens
    return fit(df["params"].to_numpy(), df["tokens"].to_numpy(), df[y].to_numpy(),
               bootstrap=bootstrap, seed=seed)


def fit_kaplan(points: Source, x: str, y: str = "loss", offset: bool = False,
               where: str | None = None, bootstrap: int = 1000, seed: int = 0,
               checkpoints: str = "final") -> "CurveFit":
    """L(x) = (x_c / x)^alpha (+ E with offset), Kaplan et al. 2020, with bootstrap intervals."""
    from .analysis.laws.power_laws import fit_kaplan as fit

    df, y = fit_points(points, x, y, where, checkpoints)
    return fit(df[x].to_numpy(), df[y].to_numpy(), offset=offset, bootstrap=bootstrap, seed=seed)
