"""Bring other tools' results into the results schema: lm-evaluation-harness output JSON (both
the "acc,none" keys of v0.4 and the older "acc" keys), BIG-bench `scores_<family>_<model>.json`
files, and column aliases of published tables. (Task files are imported by tasks/imported.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from .errors import UserError
from .evaluate.registry import lookup

# column names seen in published tables -> our schema (used only when ours is absent)
ALIASES = {"score": "value", "model_family": "family", "model_name": "model_id", "model": "model_id",
           "prompt_type": "variant", "n_examples": "n", "non_embedding_params": "params_nonembed",
           "chance_bigbench_mc": "baseline", "score_sd": None}

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmbt])\b", re.IGNORECASE)
_MULT = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}


def apply_aliases(df: pd.DataFrame) -> pd.DataFrame:
    """Add our column names beside the published ones (both stay usable in --where)."""
    df = df.copy()
    for old, new in ALIASES.items():
        if new and old in df.columns and new not in df.columns:
            df[new] = df[old]
    return df


def params_from_name(name: str) -> float | None:
    """'pythia-410m-deduped' -> 4.1e8; None when the name carries no size."""
    m = None
    for m in _SIZE.finditer(name.replace("_", "-").replace("-", " ")):
        pass
    return float(m.group(1)) * _MULT[m.group(2).lower()] if m else None


def family_of(model_name: str) -> str:
    """The name less its size and checkpoint step: 'pythia-410m' -> 'pythia', but
    'pythia-410m-deduped' -> 'pythia-deduped' and 'Qwen2.5-0.5B-Instruct' -> 'Qwen2.5-Instruct':
    a variant trained or tuned differently is another family, never merged with the base."""
    name = model_name.rsplit("/", 1)[-1]
    name = re.sub(r"[-_]?step[-_]?\d+", "", name, flags=re.IGNORECASE)
    name = re.sub(r"[-_]?\d+(?:\.\d+)?[kmbt](?=$|[-_])", "", name, count=1, flags=re.IGNORECASE)
    return name.strip("-_") or model_name


def read_lmeval_dir(directory: Path) -> pd.DataFrame:
    files = sorted(directory.rglob("*.json"))
    if not files:
        raise UserError(f"{directory}: no results/*.parquet, no lm-evaluation-harness JSON and no "
                        "BIG-bench scores_*.json")
    rows = []
    for path in files:
        try:
            data = json.loads(path.read_text())
            if isinstance(data, dict) and "scores" in data and "model" in data:
                rows.extend(bigbench_score_rows(path, data))
                continue
            results = data["results"]
            if not isinstance(results, dict):
                raise TypeError
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
            raise UserError(f"{path}: neither lm-evaluation-harness results JSON nor a BIG-bench "
                            "scores file") from None
        config = data.get("config", {}) or {}
        args = str(config.get("model_args", "") or "")
        pretrained = re.search(r"pretrained=([^,]+)", args)
        model = pretrained.group(1).rstrip("/").split("/")[-1] if pretrained else path.stem
        model = re.sub(r"_step\d+$", "", model)
        step = re.search(r"(?:revision=|_)step(\d+)", args + " " + path.stem)
        shots = config.get("num_fewshot")
        n_shot = data.get("n-shot", {}) or {}
        family = family_of(model)
        directions = data.get("higher_is_better", {}) or {}  # lm-eval >= 0.4 says it per metric
        for task, metrics in results.items():
            if not isinstance(metrics, dict):
                continue
            for key, value in metrics.items():
                metric, _, filt = key.partition(",")
                if metric.endswith("_stderr") or metric == "alias" or not isinstance(value, (int, float)):
                    continue
                err = metrics.get(f"{metric}_stderr,{filt}" if filt else f"{metric}_stderr")
                higher = (directions.get(task) or {}).get(metric)
                rows.append({"family": family, "model_id": model,
                             "params": params_from_name(model),
                             "step": int(step.group(1)) if step else None,
                             "shots": n_shot.get(task, shots), "task": task,
                             "variant": filt if filt and filt != "none" else None,
                             "metric": metric, "value": float(value),
                             "stderr": float(err) if isinstance(err, (int, float)) else None,
                             "higher_is_better": higher if isinstance(higher, bool) else None})
    df = pd.DataFrame(rows)
    for col in ("params", "params_nonembed", "step", "shots", "value", "stderr", "baseline"):
        if col in df.columns:  # None in some rows must not make a column of Python objects
            df[col] = pd.to_numeric(df[col], errors="coerce")
    return df


def _bigbench_direction(metric: str) -> bool:
    """The registry's direction; BIG-bench's convention (higher is better) for metrics it lacks."""
    entry = lookup(metric)
    return entry.higher_is_better if entry is not None else True


def bigbench_score_rows(path: Path, data: dict) -> list[dict]:
    """Rows of one BIG-bench `scores_<family>_<model>.json` (format: datasets/bigbench/README).

    Values are kept on the file's own scale (0-1 for most metrics, 0-100 for bleu/rouge). Aggregate
    entries (preferred score normalized_aggregate_score) are skipped: they are not raw metrics. The
    preferred metric carries low_score as its baseline."""
    model, task = data["model"], data.get("task") or {}
    if not isinstance(model, dict) or not isinstance(data["scores"], list):
        raise TypeError
    task_name = task.get("task_name") or path.parent.parent.name
    name = str(model.get("model_name", path.stem))
    rows = []
    for sc in data["scores"]:
        if not isinstance(sc, dict) or not isinstance(sc.get("score_dict"), dict):
            raise TypeError
        preferred = sc.get("preferred_score")
        if preferred == "normalized_aggregate_score":
            continue
        sub = str(sc.get("subtask_description") or task_name)
        shots = sc.get("number_of_shots")
        for metric, value in sc["score_dict"].items():
            if not isinstance(value, (int, float)):
                continue
            rows.append({"family": model.get("model_family"), "model_id": name,
                         "params": model.get("total_params") or params_from_name(name),
                         "params_nonembed": model.get("non_embedding_params"),
                         "step": model.get("training_steps"),
                         "shots": shots if shots is not None and shots >= 0 else None,
                         "task": task_name,
                         "variant": sub.split(":", 1)[1] if ":" in sub else None,
                         "metric": metric, "value": float(value),
                         "baseline": sc.get("low_score") if metric == preferred else None,
                         "higher_is_better": _bigbench_direction(metric), "stderr": None})
    return rows
