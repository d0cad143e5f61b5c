#!/usr/bin/env bash
# One GPU, <= 10 minutes: is the CUDA path sound, and how fast is it?
#   1. tokens/s and MFU of every member of the `gpu` preset (bench/gpu_throughput.py);
#   2. a short real run on the GPU (the `micro` preset, --device cuda): train, checkpoint,
#      evaluate, results written; then its checkpoints evaluated again on the CPU must give the
#      same exact match (checkpoints are device-independent).
# Usage: bash bench/gpu_check.sh [OUT_DIR]   (needs the project installed with a CUDA PyTorch)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${1:-$(mktemp -d)/gpu-check}
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: this check needs one GPU')"
"$PY" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name(0))"
echo "== throughput and MFU per member of the gpu preset"
timeout 420 "$PY" bench/gpu_throughput.py --device cuda --steps 20
echo "== a micro run on the GPU, then its checkpoints scored on the CPU"
timeout 150 "$PY" -m emergelab run --preset micro --out "$OUT" --device cuda --quiet --backend in-process >/dev/null
"$PY" - "$OUT" <<'PY'
import sys
from pathlib import Path
from emergelab.config import load_config
from emergelab.evaluate.scoring import CharScorer
from emergelab.evaluate.runner import evaluate_model
from emergelab.experiment import setup
from emergelab.store import read_results
from emergelab.train.checkpoint import load_checkpoint
out = Path(sys.argv[1])
cfg = load_config(out / "config.toml")
eval_tasks, _, members = setup(cfg)
gpu = read_results(out)
worst = 0.0
for m in members:
    model, _ = load_checkpoint(out / "checkpoints" / m.model_id / f"step_{cfg.train.steps}")
    _, rows = evaluate_model(CharScorer(model), eval_tasks, seed=cfg.seed, n_boot=0)
    for r in rows:
        if r["metric"] == "exact_match":
            g = gpu[(gpu.model_id == m.model_id) & (gpu.step == cfg.train.steps)
                    & (gpu.task == r["task"]) & (gpu.metric == "exact_match")]["value"].iloc[0]
            worst = max(worst, abs(g - r["value"]))
print(f"exact match, GPU-trained checkpoints scored on GPU vs CPU: largest difference {worst:.4f}")
PY
echo "gpu check done: $OUT"
