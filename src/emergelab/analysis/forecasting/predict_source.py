"""`predict` as a library: forecast every curve of a results source from its smaller models.

    from emergelab.analysis.forecasting.predict_source import predict
    p = predict("runs/demo", train_below=30_000)
    for f in p.forecasts:
        print(f.task, f.metric, f.signal, f.threshold, f.threshold_ci)

What a run holds besides the curves themselves feeds the forecasts: the answer lengths of each
task's examples (samples: the L of p^L) and every member's validation loss (the loss route).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import UserError
from ...sources import our_run_dirs, run_source, source_label
from ...store import has_table, query
from ..verdicts.analyze_source import declared_arms, read_scaled_table
from ..verdicts.curves import Curve, build_curves
from .emergence_law import ProbePoints
from .forecast import Forecast, forecast_curve


@dataclass
class Prediction:
    """Every curve's forecast. source: the path read (None for a DataFrame)."""

    source: Path | None
    x: str
    train_below: float | None
    forecasts: list[Forecast]
    curves: list[Curve] = field(repr=False, default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> list[dict]:
        """One record per curve (what `emergelab predict --json` prints)."""
        return [f.to_json() for f in self.forecasts]

    def to_frame(self) -> pd.DataFrame:
        """One row per curve; the forecast curve and held-out points stay lists."""
        return pd.DataFrame(self.to_json())


def _answer_lengths(source: Path) -> dict[tuple, np.ndarray]:
    """(family, task, variant, shots) -> each example's target length in the scorer's tokens,
    from the samples of our runs (teacher forcing scores one hit per target token)."""
    out = {}
    for run_dir, family in our_run_dirs(source):
        if not has_table(run_dir, "samples"):
            continue
        df = query(run_dir, "SELECT task, variant, shots, example_id, "
                            "max(len(token_hits)) AS L FROM samples "
                            "GROUP BY task, variant, shots, example_id", table="samples")
        for (task, variant, shots), g in df.groupby(["task", "variant", "shots"], dropna=False):
            L = g["L"].to_numpy(float)
            if (L > 0).any():
                out[(family, task, variant, float(shots))] = L[L > 0]
    return out


def _loss_by_point(df: pd.DataFrame, x: str) -> dict[tuple, float]:
    """(family, x) -> the validation loss of that model's last checkpoint."""
    if "val_loss" not in df.columns or x in ("step", "val_loss"):
        return {}
    d = df[df["val_loss"].notna() & df[x].notna()].copy()
    if d.empty:
        return {}
    d["val_loss"] = pd.to_numeric(d["val_loss"], errors="coerce")
    if "step" in d.columns and d["step"].notna().any():
        d = d[d["step"] == d.groupby(["family", x])["step"].transform("max")]
    return {k: float(v) for k, v in d.groupby(["family", x])["val_loss"].mean().items()}


def probe_points(probes: pd.DataFrame, c: Curve, cutoff: float | None) -> ProbePoints | None:
    """Curve c's fine-tuning probes below the cutoff (rows of a probe table: the results schema
    plus finetune_k) with c's own points as k = 0; a size is one bootstrap unit."""
    d = probes[probes["metric"] == c.metric]
    for key, value in c.keys.items():
        if key not in d.columns:
            continue
        if value is None:
            d = d[d[key].isna()]
        elif key == "shots":
            d = d[pd.to_numeric(d[key], errors="coerce") == float(value)]
        else:
            d = d[d[key].astype(str) == str(value)]
    d = d[d[c.x_name].notna()]
    if cutoff is not None:
        d = d[d[c.x_name] < cutoff]
    if d.empty:
        return None
    d = d.sort_values([c.x_name, "finetune_k", "model_id"])  # not the files' read order
    own = c.x < cutoff if cutoff is not None else np.ones(len(c.x), bool)
    n_own = c.n[own] if c.n is not None else np.full(own.sum(), float(d["n"].median()))
    x = np.concatenate([c.x[own], d[c.x_name].to_numpy(float)])
    return ProbePoints(np.log10(x), np.concatenate([np.zeros(own.sum()),
                                                     d["finetune_k"].to_numpy(float)]),
                       np.concatenate([c.y[own], d["value"].to_numpy(float)]),
                       np.concatenate([n_own, d["n"].to_numpy(float)]), np.round(np.log10(x), 6))


def predict(source: str | Path | pd.DataFrame, x: str | None = None, where: str | None = None,
            train_below: float | None = None, at: list[float] | None = None,
            signal: str = "auto", seed: int = 0, probes: pd.DataFrame | None = None) -> Prediction:
    """Forecast every (family, task, variant, shots, metric) curve from its points with
    x < train_below (all points when None: a forecast beyond the ladder, at `at`). probes: a
    table of fine-tuning probes (emergelab.probing; the `finetune` signal reads it)."""
    name, run_dir = source_label(source), run_source(source)
    df, x = read_scaled_table(source, where, x)
    if "family" not in df.columns:
        df["family"] = None
    if train_below is not None and not train_below > 0:
        raise UserError("`train_below` must be a positive value of the scale column")
    if at is not None and not all(v > 0 for v in at):
        raise UserError(f"`at` values must be positive (got {', '.join(f'{v:g}' for v in at)})")
    declared, run_level = declared_arms(run_dir) if run_dir else ({}, None)
    curves = build_curves(df[df[x].notna()], x, arms=declared, ci_level=run_level or 0.95)
    if not curves:
        raise UserError(f"{name}: no curve has positive {x} values")
    if train_below is not None and max(int((c.x < train_below).sum()) for c in curves) < 3:
        raise UserError(f"`train_below` {train_below:g} leaves fewer than 3 points on every "
                        f"curve (smallest {x}: {min(c.x.min() for c in curves):g})")
    forecasts = forecast_all(curves, df, run_dir, x, lambda c: train_below, at, signal, seed,
                             probes)
    path = None if isinstance(source, pd.DataFrame) else Path(source)
    return Prediction(path, x, train_below, forecasts, curves)


def forecast_all(curves: list[Curve], df: pd.DataFrame, source: Path | None, x: str, cutoff, at=None,
                 signal: str = "auto", seed: int = 0,
                 probes: pd.DataFrame | None = None) -> list[Forecast]:
    """Forecast each curve from its points below cutoff(curve), with the answer lengths and
    validation losses the source holds (shared by `predict` and `analyze --backtest`)."""
    lengths = _answer_lengths(source) if source is not None and source.is_dir() else {}
    loss = _loss_by_point(df, x)
    groups: dict[tuple, list[Curve]] = {}
    for c in curves:
        groups.setdefault(tuple(c.keys.values()), []).append(c)
    out = []
    for c in curves:
        k = c.keys
        fam = str(k["family"]).split("/")[0] if k["family"] is not None else None
        L = lengths.get((fam, k["task"], k["variant"], float(k["shots"] or 0)))
        losses = np.array([loss.get((k["family"], xi), np.nan) for xi in c.x]) if loss else None
        pts = probe_points(probes, c, cutoff(c)) if probes is not None else None
        out.append(forecast_curve(c, cutoff(c), at, groups[tuple(k.values())], L, losses,
                                  signal, seed, pts))
    return out
