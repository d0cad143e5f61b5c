"""`analyze` as a library: any results source in, typed verdicts out.

    from emergelab.analysis import analyze
    a = analyze("runs/demo")                       # a run dir, a suite, CSV/Parquet, lm-eval JSON
    for r in a.results:
        print(r.task, r.metric, r.classification, r.emergence, r.threshold, r.threshold_ci)

The CLI's `analyze` and `compare` call this and only render what it returns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import UserError
from ...sources import load_table, numeric_column, our_run_dirs, run_source, source_label
from .curves import Curve, build_curves
from .emergence import HARD_WIDTH, USEFUL, analyze_curves

LOSS_AXES = ("val_loss", "loss")


@dataclass
class CurveResult:
    """The verdict on one curve. Thresholds are in the scale column's units (losses on a loss
    axis); threshold_ci ends are None where the interval is open (the crossing may lie beyond
    the ladder); threshold_ci_kind is "bracket" when the interval is exactly the gap between two
    neighbouring members (nothing on the rise located it more finely)."""

    family: str | None
    task: str | None
    variant: str | None
    shots: float | None
    metric: str
    x: str
    classification: str
    emergence: str | None          # "hard", "soft", "fake" or None
    threshold: float | None
    threshold_ci: list | None
    threshold_ci_kind: str | None
    # 10-90% width of the rise in decades of x, as far as the data tell it: width_bound "at most"
    # (the whole rise between two members: the gap), "at least" (wider than the ladder: its
    # span), else None (the fitted logistic's, which fit_width_decades always holds)
    width_decades: float | None
    useful_level: float | None     # the usefulness level in the metric's units
    useful_at: float | None        # where the curve first reaches it
    linearity: float | None
    breakthroughness: float | None
    n_points: int
    noise: str                     # where each point's noise came from
    # the rule that decided the class: a sentence, and the short phrase tables show
    reason: str = ""
    why: str = ""
    ladder_decades: float | None = None  # span of the sizes; a wider fitted rise is open:
    width_open: bool | None = None       # the data show only part of it
    width_bound: str | None = None
    fit_width_decades: float | None = None
    smooth_under: list[str] | None = None
    # training seeds (analysis/verdicts/seeds.py): per size how many; "measured" when >= 2 seeds have a
    # curve (threshold_ci is then the recipe's population threshold, kind "seeds"), else
    # "not measured" (the interval covers evaluation noise only)
    seeds: list[dict] | None = None
    seed_variance: str = "not measured"
    seed_thresholds: list[dict] | None = None      # each seed's own {seed, threshold, threshold_ci}
    seed_spread_decades: float | None = None       # SD of the seeds' thresholds
    seed_width_decades: float | None = None        # median 10-90% width of each seed's own rise
    emergence_probability: list[dict] | None = None  # per size: share of seeds past the level
    seed_verdicts: list[dict] | None = None        # each seed alone: {seed, classification, emergence}
    backtest_error: float | None = None   # mean |forecast - observed| of the k largest points
    backtest_signal: str | None = None    # what that forecast used, or "no signal yet"

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Analysis:
    """Every curve's verdict. source: the path read (None for a DataFrame)."""

    source: Path | None
    x: str
    results: list[CurveResult]
    curves: list[Curve] = field(repr=False, default_factory=list)
    notes: list[str] = field(default_factory=list)   # things the user should know (rows left out)

    def to_json(self) -> list[dict]:
        """One record per curve (what `emergelab analyze --json` prints)."""
        return [r.to_json() for r in self.results]

    def to_frame(self) -> pd.DataFrame:
        """One row per curve; list-valued fields (intervals, per-seed records) stay lists."""
        return pd.DataFrame(self.to_json(), columns=list(CurveResult.__dataclass_fields__))


def declared_arms(source: Path) -> tuple[dict[str, str], float | None]:
    """Ablation arms each of our runs under source declares (family -> column), and the interval
    level of their results (None when source holds none of our runs)."""
    from ...config import load_config

    arms, levels = {}, set()
    for run_dir, family in our_run_dirs(source):
        cfg = load_config(run_dir / "config.toml")
        if getattr(cfg, "ladder", None) is None:
            continue
        if cfg.ladder.arms:
            arms[family] = cfg.ladder.arms
        levels.add(cfg.eval.level)
    if len(levels) > 1:
        raise UserError(f"{source}: its runs report intervals at different levels {sorted(levels)}")
    return arms, (levels.pop() if levels else None)


def read_scaled_table(source, where: str | None, x: str | None) -> tuple[pd.DataFrame, str]:
    """The source's rows (a path, a dataset's name or a DataFrame) with numeric value and scale
    columns; x defaults to params_nonembed where present, else params."""
    df = load_table(source, where)
    for col in ("task", "metric", "value"):
        if col not in df.columns:
            raise UserError(f"{source_label(source)}: missing column {col!r}")
    if x is None:
        x = "params_nonembed" if ("params_nonembed" in df.columns
                                  and df["params_nonembed"].notna().any()) else "params"
    df["value"] = numeric_column(df, "value", source)
    df[x] = numeric_column(df, x, source)
    return df, x


def analyze(source: str | Path | pd.DataFrame, x: str | None = None, where: str | None = None,
            pool_families: bool = False, backtest: int = 0, hard_width: float = HARD_WIDTH,
            useful: float = USEFUL, arms: str | None = None,
            ci_level: float | None = None) -> Analysis:
    """Classify every (family, task, variant, shots, metric) curve of a results source: a run
    or suite directory, a CSV or Parquet file, a dataset's name (`emergelab datasets`) or a
    DataFrame in the results schema.

    x: the scale column (default params_nonembed where present, else params); val_loss puts
    every checkpoint on one loss axis (Du et al. 2024). arms: a column that splits every family
    into ablation arms (our runs declare theirs in their config). ci_level: the level of the
    table's ci_low/ci_high (our runs record theirs; default 0.95)."""
    name, run_dir = source_label(source), run_source(source)
    df, x = read_scaled_table(source, where, x)
    notes = []
    skipped = int(df[x].isna().sum())
    if skipped:
        other = next((c for c in ("params", "params_nonembed") if c != x and c in df.columns
                      and df.loc[df[x].isna(), c].notna().any()), None)
        notes.append(f"{skipped} rows have no {x} and are left out"
                     + (f" (they have {other}; ask for `x`={other})" if other else ""))
    if x not in LOSS_AXES:
        bad = int((df[x] <= 0).sum())
        if bad:
            notes.append(f"{bad} rows have {x} <= 0 and are left out (a log scale needs "
                         "positive sizes)")
    declared, run_level = declared_arms(run_dir) if run_dir else ({}, None)
    if arms is not None:
        if arms not in df.columns:
            raise UserError(f"{name}: `arms` column {arms!r} is not in the table")
        declared = {f: arms for f in df["family"].dropna().unique()} if "family" in df.columns \
            else {}
    ci_level = ci_level if ci_level is not None else (run_level or 0.95)
    if not 0 < ci_level < 1:
        raise UserError("`ci_level` must be between 0 and 1")
    loss_axis = x in LOSS_AXES
    if loss_axis:
        # abilities against the model's loss (Du et al. 2024): every checkpoint of every size is
        # a point, lower loss is "further"; curves run on 1/loss so the classifier's scale
        # direction holds, and thresholds are reported back as losses. One pooled curve per
        # task, and one per model to see whether they cross at a common loss.
        df = df[df[x] > 0].copy()
        df[x] = 1.0 / df[x]
        per_model = df.copy()
        per_model["family"] = per_model["family"].astype(str) + ":" + per_model["model_id"].astype(str)
        df = pd.concat([df, per_model]).assign(step=None, final_checkpoint=None)
    curves = build_curves(df[df[x].notna()], x, pool_families, declared, ci_level)
    if not curves:
        raise UserError(f"{name}: no curve has positive {x} values")
    rows = analyze_curves(curves, hard_width, useful)
    _seed_verdicts(df[df[x].notna()], curves, rows, x, pool_families, declared, ci_level,
                   hard_width, useful)
    if backtest:
        _backtest(curves, rows, df, run_dir, x, backtest)
    if loss_axis:
        for r in rows:
            _back_to_loss(r, x)
    fields = CurveResult.__dataclass_fields__
    results = [CurveResult(**{k: v for k, v in r.items() if k in fields}) for r in rows]
    path = None if isinstance(source, pd.DataFrame) else Path(source)
    return Analysis(path, x, results, curves, notes)


def _seed_verdicts(df: pd.DataFrame, curves: list[Curve], rows: list[dict], x: str,
                   pool_families: bool, declared: dict, ci_level: float, hard_width: float,
                   useful: float) -> None:
    """Each multi-seed curve's verdict as each seed alone would get it, so a reader sees how many
    runs of the recipe agree with the recipe's verdict."""
    if not any(c.multi_seed for c in curves):
        return
    per_seed: dict[tuple, list[dict]] = {}
    for seed, g in df[df["seed"].notna()].groupby("seed"):
        own = build_curves(g.drop(columns="seed"), x, pool_families, declared, ci_level)
        for c, r in zip(own, analyze_curves(own, hard_width, useful)):
            per_seed.setdefault((tuple(c.keys.values()), c.metric), []).append(
                {"seed": int(seed), "classification": r["classification"],
                 "emergence": r["emergence"]})
    for c, r in zip(curves, rows):
        if c.multi_seed:
            r["seed_verdicts"] = per_seed.get((tuple(c.keys.values()), c.metric))


def _backtest(curves: list[Curve], rows: list[dict], df: pd.DataFrame, source: Path | None, x: str,
              k: int) -> None:
    """Forecast each curve's k largest points from the rest (analysis/forecasting/forecast.py, the same
    forecasts as `predict`) and record the mean absolute error and the signal used."""
    from ..forecasting.forecast import NO_SIGNAL, mean_abs_error
    from ..forecasting.predict_source import forecast_all

    def cutoff(c):
        return float(np.sort(c.x)[-k]) if len(c.x) > k else float(c.x.min())

    for r, f in zip(rows, forecast_all(curves, df, source, x, cutoff)):
        r["backtest_error"] = mean_abs_error(f)
        r["backtest_signal"] = f.signal or (NO_SIGNAL if f.status == NO_SIGNAL else None)


def _back_to_loss(r: dict, x: str) -> None:
    """Thresholds found on 1/loss, reported as losses (the interval's ends swap)."""
    def inv(v):
        return None if v is None or v == 0 else 1.0 / v

    r["threshold"], r["useful_at"] = inv(r.get("threshold")), inv(r.get("useful_at"))
    if r.get("threshold_ci"):  # an open end (None) stays open, on the other side
        lo, hi = r["threshold_ci"]
        r["threshold_ci"] = [inv(hi), inv(lo)]
    r["x"] = f"{x} (lower is further)"
