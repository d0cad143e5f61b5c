"""Observational scaling (Ruan, Maddison & Hashimoto 2024): forecast emergent tasks of large
models from a low-dimensional capability space of standard benchmarks.

1. The base benchmarks (MMLU, ARC-C, HellaSwag, ...) of every model, blanks filled by iterative
   PCA imputation (as the paper does), give principal components; the top three ("capability
   components") explain ~97% of the variance. They use no target-task value, so they are computed
   over all models: a new model's standard benchmarks are observed, its emergent tasks are not.
   Benchmarks and FLOPs are centred and scaled on the training models before each fit, so one
   grid of starting points suits both.
2. Each target task is fitted as Y = (1 - b)·sigmoid(w·PC + c) + b with the floor b in [0, 0.2],
   by least squares on the models trained with less than the FLOPs cutoff, and forecast for every
   model at or above it.
3. The reference: the same sigmoid in log10 FLOPs, fitted on the same split.

The data's README (datasets/obs_scaling) explains the columns; its known upstream error (BTLM's
data size and FLOPs a thousand times too large) is corrected here when loading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from scipy.special import expit

from ...errors import UserError

BENCHMARKS = ("MMLU", "ARC-C", "HellaSwag", "Winograd", "TruthfulQA", "GSM8K", "XWinograd",
              "HumanEval")
MODEL, FLOPS = "Model", "FLOPs (1E21)"   # FLOPs in units of 1e21
N_COMPONENTS = 3
FLOOR_MAX = 0.2
# datasets/obs_scaling/README.md: BTLM trained on 627B tokens, listed as 627 T
_KNOWN_ERRORS = {"cerebras/btlm-3b-8k-base": {"Pretraining Data Size (T)": 0.627, FLOPS: 11.286}}


@dataclass
class ObsForecast:
    model: str
    task: str
    predicted: float
    observed: float | None
    baseline_predicted: float   # the sigmoid in log FLOPs, same split
    flops: float

    def to_json(self) -> dict:
        return {"model": self.model, "task": self.task, "predicted": self.predicted,
                "observed": self.observed, "logflops_predicted": self.baseline_predicted,
                "flops": self.flops}


@dataclass
class ObsResult:
    forecasts: list[ObsForecast]
    explained: list[float]         # variance share of the components
    n_train: dict[str, int]        # task -> models fitted
    mae: dict[str, float]          # task -> mean absolute error on held-out models
    mae_logflops: dict[str, float]
    scaled: dict[str, float]       # task -> the factor its values were divided by (BLEU: 100)
    train_below: float = 0.0
    observed: dict = field(default_factory=dict)  # task -> (FLOPs, values) of models with both


def _read(path: Path, needed: tuple[str, ...]) -> pd.DataFrame:
    from ...datasets import missing, resolve

    path = resolve(path)
    if not path.is_file():
        raise UserError(missing(path))
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise UserError(f"{path}: not a readable CSV ({str(err).splitlines()[0]})") from None
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(map(repr, missing))}")
    return df


def load_base(path: Path) -> pd.DataFrame:
    df = _read(path, (MODEL, FLOPS))
    bench = [b for b in BENCHMARKS if b in df.columns]
    if len(bench) < N_COMPONENTS + 1:
        raise UserError(f"{path}: needs at least {N_COMPONENTS + 1} of the benchmark columns "
                        f"{', '.join(BENCHMARKS)} (has {len(bench)})")
    for model, fix in _KNOWN_ERRORS.items():
        for col, value in fix.items():
            if col in df.columns:
                df.loc[df[MODEL] == model, col] = value
    for col in (FLOPS, *bench):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    return df


def impute_pca(X: np.ndarray, k: int = N_COMPONENTS, iters: int = 1000,
               tol: float = 1e-9) -> np.ndarray:
    """Fill NaNs by regularized iterative PCA (Josse & Husson 2012): reconstruct from k
    components whose singular values are shrunk by the residual noise, until the filled values
    stop moving. Without the shrinkage the iteration overfits the gaps and drifts (on the
    ObsScaling benchmarks PC1's share falls from 84% to 68% and on)."""
    missing = np.isnan(X)
    n, p = X.shape
    Z = np.where(missing, np.nanmean(X, 0), X)
    dof = n * p - p - n * k - p * k + k * k + k
    for _ in range(iters):
        mu = Z.mean(0)
        U, S, Vt = np.linalg.svd(Z - mu, full_matrices=False)
        lam = S**2 / n
        sigma2 = n * lam[k:].sum() / dof if dof > 0 else 0.0
        d = S[:k] * np.clip(1 - sigma2 / np.maximum(lam[:k], 1e-300), 0, None)
        new = np.where(missing, mu + (U[:, :k] * d) @ Vt[:k], X)
        if np.max(np.abs(new - Z)) < tol:
            return new
        Z = new
    return Z


def capability_components(base: pd.DataFrame, k: int = N_COMPONENTS):
    """(components per model (n, k), explained variance shares)."""
    bench = [b for b in BENCHMARKS if b in base.columns]
    X = base[bench].to_numpy(float)
    usable = ~np.isnan(X).all(1)
    Z = impute_pca(X[usable], k)
    mu = Z.mean(0)
    U, S, Vt = np.linalg.svd(Z - mu, full_matrices=False)
    pcs = np.full((len(X), k), np.nan)
    pcs[usable] = (Z - mu) @ Vt[:k].T
    return pcs, (S**2 / np.sum(S**2))[:k].tolist()


def fit_sigmoid(F: np.ndarray, y: np.ndarray):
    """Y = (1 - b) sigmoid(F w + c) + b, b in [0, FLOOR_MAX], least squares from a grid of
    starts; returns the fitted function."""
    k = F.shape[1]
    mu, sd = F.mean(0), F.std(0)
    sd = np.where(sd > 0, sd, 1.0)

    def f(p, G):
        return (1 - p[-1]) * expit(((G - mu) / sd) @ p[:k] + p[k]) + p[-1]

    lower = np.r_[np.full(k + 1, -np.inf), 0.0]
    upper = np.r_[np.full(k + 1, np.inf), FLOOR_MAX]
    best = None
    for scale in (0.3, 1.0, 3.0):
        for c0 in (-2.0, 0.0, 2.0):
            r = least_squares(lambda p: f(p, F) - y, np.r_[np.full(k, scale), c0, 0.05],
                              bounds=(lower, upper))
            if best is None or r.cost < best.cost:
                best = r
    return lambda G: f(best.x, G)


def observational_forecast(base_csv: Path, target_csv: Path, train_below: float) -> ObsResult:
    """Fit every target column on models with FLOPs < train_below (in FLOPs), forecast the
    models at or above it."""
    if not train_below > 0:
        raise UserError("`train_below` must be a positive number of FLOPs")
    base = load_base(base_csv)
    target = _read(target_csv, (MODEL,))
    tasks = [c for c in target.columns if c != MODEL and c not in base.columns]
    for c in tasks:
        target[c] = pd.to_numeric(target[c], errors="coerce")
    tasks = [c for c in tasks if target[c].notna().any()]
    if not tasks:
        raise UserError(f"{target_csv}: no numeric task column besides {MODEL!r}")
    pcs, explained = capability_components(base)
    base = base.assign(**{f"_pc{i}": pcs[:, i] for i in range(pcs.shape[1])})
    merged = target.merge(base, on=MODEL, how="inner")
    if merged.empty:
        raise UserError(f"{target_csv}: no model is also in {base_csv}")
    flops = merged[FLOPS].to_numpy(float) * 1e21
    pc_cols = [f"_pc{i}" for i in range(pcs.shape[1])]
    known = np.isfinite(flops) & merged[pc_cols].notna().all(axis=1).to_numpy()
    train, test = known & (flops < train_below), known & (flops >= train_below)
    forecasts, n_train, mae, mae_ref, scaled, observed = [], {}, {}, {}, {}, {}
    for task in tasks:
        y = merged[task].to_numpy(float)
        factor = 100.0 if np.nanmax(y) > 1 else 1.0   # BLEU-like 0-100 scores
        y = y / factor
        tr = train & np.isfinite(y)
        if tr.sum() < 3 + pcs.shape[1]:
            raise UserError(f"`train_below` {train_below:g} leaves {int(tr.sum())} models with "
                            f"{task!r}; the fit needs {3 + pcs.shape[1]}")
        F = merged[pc_cols].to_numpy(float)
        logf = np.log10(np.where(known, flops, 1.0))[:, None]
        ours, ref = fit_sigmoid(F[tr], y[tr]), fit_sigmoid(logf[tr], y[tr])
        pred, pred_ref = ours(F) * factor, ref(logf) * factor
        n_train[task], scaled[task] = int(tr.sum()), factor
        both = known & np.isfinite(y)
        observed[task] = (flops[both], y[both] * factor)
        for i in np.nonzero(test)[0]:
            forecasts.append(ObsForecast(str(merged[MODEL].iloc[i]), task, float(pred[i]),
                                         float(y[i] * factor) if np.isfinite(y[i]) else None,
                                         float(pred_ref[i]), float(flops[i])))
        te = test & np.isfinite(y)
        if te.any():
            mae[task] = float(np.mean(np.abs(pred[te] - y[te] * factor)))
            mae_ref[task] = float(np.mean(np.abs(pred_ref[te] - y[te] * factor)))
    return ObsResult(forecasts, explained, n_train, mae, mae_ref, scaled, train_below, observed)
