"""In-context learning over shots: `emergelab shots`.

Each model's headline score (exact match, or the multiple-choice grade; a harness table's acc and
acc_norm) at every number of demonstrations, and the few-shot gain — k-shot minus 0-shot on the
same examples — against model size, the form of Wei et al. (2022)'s few-shot figures: a gain near
zero in small models that turns positive past some size is in-context learning emerging with
scale. A gain is called positive only when its interval (the k-shot and 0-shot intervals
combined, as independent estimates) lies above zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ...errors import UserError
from ...sources import final_rows, load_table, model_column, source_label

HEADLINES = ("exact_match", "multiple_choice_grade")
Z95 = 1.959964


@dataclass
class ShotGain:
    family: str | None
    task: str
    variant: str | None
    metric: str
    model: str
    params: float | None
    shots: int
    score: float        # at `shots`
    zero_shot: float
    gain: float
    gain_ci: tuple[float, float] | None
    positive: bool      # the whole interval above zero

    def to_json(self) -> dict:
        return asdict(self)


def _final(df: pd.DataFrame) -> pd.DataFrame:
    """Each model's final checkpoint, its name in column `model`."""
    model = model_column(df)
    if model is None:
        raise UserError("in-context learning compares each model with itself: the table needs a "
                        "model_id or model column")
    if model == "model_id" and "model" in df.columns:  # a table with both: model_id names it
        df = df.drop(columns=["model"])
    return final_rows(df).rename(columns={model: "model"})


def _scored_metrics(df: pd.DataFrame) -> list[str]:
    """Our headline metrics where the table has them; else every all-or-nothing, higher-is-better
    metric it has (a harness's acc and acc_norm)."""
    from ...evaluate.registry import lookup

    present = set(df["metric"].dropna().astype(str))
    return [m for m in HEADLINES if m in present] or sorted(
        m for m in present if (e := lookup(m)) is not None and e.discrete and e.higher_is_better)


def _by_shots(g: pd.DataFrame) -> pd.DataFrame:
    """Score per shot count, with its 95% interval from ci_low/ci_high or else from stderr."""
    if "ci_low" in g.columns and g[["ci_low", "ci_high"]].notna().all().all():
        return g.groupby("shots").agg(value=("value", "mean"), lo=("ci_low", "mean"),
                                      hi=("ci_high", "mean"))
    by_k = g.groupby("shots").agg(value=("value", "mean"))
    if "stderr" in g.columns and g["stderr"].notna().all():
        se = g.groupby("shots")["stderr"].mean()
        by_k["lo"], by_k["hi"] = by_k["value"] - Z95 * se, by_k["value"] + Z95 * se
    return by_k


def shot_gains(source, where: str | None = None) -> list[ShotGain]:
    """Every (family, task, variant, model) scored at 0 and k > 0 shots: the gain at each k
    (source: a path, a dataset's name or a DataFrame)."""
    df = load_table(source, where)
    if "shots" not in df.columns or df["shots"].dropna().nunique() < 2:
        raise UserError(f"{source_label(source)}: in-context learning needs results at two or more shot counts "
                        "(eval --shots 0,1,4, or shots = [0, 4] in a run's tasks)")
    df = _final(df[df["metric"].isin(_scored_metrics(df))].copy())
    size = next((c for c in ("params_nonembed", "params") if c in df.columns), None)
    out = []
    keys = ["family", "task", "variant", "metric", "model"]
    for key, g in df.groupby(keys, dropna=False, sort=True):
        by_k = _by_shots(g)
        if 0 not in by_k.index:
            continue
        zero = by_k.loc[0]
        params = float(g[size].iloc[0]) if size and pd.notna(g[size].iloc[0]) else None
        for k, row in by_k.drop(index=0).iterrows():
            gain = float(row["value"] - zero["value"])
            ci = None
            if "lo" in by_k.columns and np.isfinite([row["lo"], row["hi"], zero["lo"],
                                                     zero["hi"]]).all():
                # independent estimates: half-widths add in quadrature on each side
                down = np.hypot(row["value"] - row["lo"], zero["hi"] - zero["value"])
                up = np.hypot(row["hi"] - row["value"], zero["value"] - zero["lo"])
                ci = (gain - float(down), gain + float(up))
            fam, task, variant, metric, model = (None if isinstance(v, float) and np.isnan(v)
                                                 else v for v in key)
            out.append(ShotGain(fam, task, variant, metric, str(model), params, int(k),
                                float(row["value"]), float(zero["value"]), gain, ci,
                                bool(ci and ci[0] > 0)))
    if not out:
        raise UserError(f"{source}: no model has both a 0-shot and a k-shot result")
    return sorted(out, key=lambda r: (str(r.family), r.task, str(r.variant), r.metric, r.shots,
                                      r.params or 0))


def emerges_at(gains: list[ShotGain]) -> float | None:
    """The smallest size from which every larger model's gain is positive; None if none is."""
    ordered = sorted((g for g in gains if g.params is not None), key=lambda g: g.params)
    for i, g in enumerate(ordered):
        if all(h.positive for h in ordered[i:]):
            return g.params
    return None
