"""Reshape the observational-scaling CSVs (Ruan et al. 2024; datasets/obs_scaling) into the
results schema, so `emergelab analyze` can read them.

One row per model x benchmark: family, model_id, params (from 'Model Size (B)'), tokens, flops,
task, shots, metric, value, baseline (chance where known), higher_is_better.
The upstream BTLM row lists 627 T tokens and 11286e21 FLOPs; it was trained on 627B tokens, so
both are divided by 1000 here (see the data README).

Usage: python examples/obs_scaling_to_results.py OBS_DIR OUT.csv
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

CHANCE = {"MMLU": 0.25, "ARC-C": 0.25, "HellaSwag": 0.25, "Winograd": 0.5, "XWinograd": 0.5,
          "parsinlu_qa": 0.25}


def main(obs_dir: Path, out: Path) -> None:
    base = pd.read_csv(obs_dir / "base_llm_benchmark_eval.csv")
    emergent = pd.read_csv(obs_dir / "base_llm_emergent_capability_eval.csv")
    fix = base["Model"] == "cerebras/btlm-3b-8k-base"
    base.loc[fix, "Pretraining Data Size (T)"] /= 1000
    base.loc[fix, "FLOPs (1E21)"] /= 1000
    meta = base[["Model", "Model Family", "Model Size (B)", "Pretraining Data Size (T)",
                 "FLOPs (1E21)"]]
    rows = []
    for _, r in base.iterrows():
        for bench in ("MMLU", "ARC-C", "HellaSwag", "Winograd", "TruthfulQA", "GSM8K",
                      "XWinograd", "HumanEval"):
            rows.append({"Model": r["Model"], "task": bench, "shots": None, "metric": "acc",
                         "value": r[bench], "baseline": CHANCE.get(bench)})
    for _, r in emergent.iterrows():
        for col in emergent.columns:
            m = re.fullmatch(r"(.+)_(\d+)_(acc|exact_match|bleu)", col)
            if m:
                value = r[col] / 100 if m.group(3) == "bleu" else r[col]
                rows.append({"Model": r["Model"], "task": m.group(1), "shots": int(m.group(2)),
                             "metric": m.group(3), "value": value,
                             "baseline": CHANCE.get(m.group(1), 0.0)})
    df = pd.DataFrame(rows).merge(meta, on="Model", how="left")
    df = df.rename(columns={"Model": "model_id", "Model Family": "family"})
    df["params"] = df.pop("Model Size (B)") * 1e9
    df["tokens"] = df.pop("Pretraining Data Size (T)") * 1e12
    df["flops"] = df.pop("FLOPs (1E21)") * 1e21
    df["higher_is_better"] = True
    df = df.dropna(subset=["value"])
    df.to_csv(out, index=False)
    print(f"{len(df)} rows -> {out}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    main(Path(sys.argv[1]), Path(sys.argv[2]))
