"""Devices: --device/--dtype resolve in one place, bad ones are one line; the GPU path (model,
batches, autocast, scorers, checkpoints) runs the same code on the CPU here, and on CUDA where
there is one (those tests are skipped without CUDA)."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from emergelab.config import load_preset
from emergelab.device import autocast, resolve_device, resolve_dtype
from emergelab.errors import UserError
from emergelab.evaluate.runner import evaluate_model
from emergelab.evaluate.scoring import CharScorer
from emergelab.experiment import setup
from emergelab.train.checkpoint import load_checkpoint
from emergelab.train.kernels import Kernels
from emergelab.train.loop import train_member

from .conftest import run_cli

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
ROOT = Path(__file__).resolve().parents[1]


def test_device_names_resolve_and_bad_ones_are_one_line():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    for bad in ("tpu", "cpu:1", "cuda:x"):
        with pytest.raises(UserError, match="device"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA device here"):
            resolve_device("cuda")
    with pytest.raises(UserError, match="unknown dtype"):
        resolve_dtype("float8", torch.device("cpu"))
    assert resolve_dtype(None, torch.device("cpu")) == torch.float32
    assert resolve_dtype(None, torch.device("cuda")) == torch.bfloat16
    assert resolve_dtype("float16", torch.device("cpu")) == torch.float16


def test_accelerators_train_in_bf16_unless_pinned_and_autocast_follows_the_device():
    assert Kernels.on_accelerator("auto", "auto", "cuda") == Kernels("bf16", "sdpa")
    assert Kernels.on_accelerator("fp32", "matmul", "cuda") == Kernels("fp32", "matmul")
    assert Kernels.on_accelerator("auto", "auto", "mps") == Kernels("fp32", "sdpa")
    with autocast("cpu", "bf16"):
        x = torch.ones(4, 4) @ torch.ones(4, 4)
    assert x.dtype == torch.bfloat16


def _train_tiny(tmp_path: Path, device: str):
    cfg = load_preset("micro")
    tcfg = cfg.train.model_copy(update={"steps": 30, "checkpoints": 1})
    eval_tasks, mixture, members = setup(cfg)
    train_member(members[0], mixture, tcfg, tmp_path / device, device=device,
                 kernels=Kernels("fp32", "sdpa"))
    return cfg, eval_tasks, load_checkpoint(tmp_path / device / f"step_{tcfg.steps}")[0]


def test_checkpoints_are_cpu_tensors_whatever_the_device(tmp_path):
    from safetensors import safe_open

    _train_tiny(tmp_path, "cpu")
    for name in ("step_30/model.safetensors", "train_state/optimizer.safetensors"):
        with safe_open(tmp_path / "cpu" / name, framework="pt") as f:
            assert all(f.get_tensor(k).device.type == "cpu" for k in f.keys())


@cuda
def test_cuda_training_and_scoring_agree_with_the_cpu(tmp_path):
    """A member trained on CUDA in fp32 scores (on CPU and on CUDA) as one trained on the CPU,
    within float noise: same init, same batches, checkpoints device-independent."""
    cfg, eval_tasks, cpu_model = _train_tiny(tmp_path, "cpu")
    _, _, cuda_model = _train_tiny(tmp_path, "cuda")
    for a, b in zip(cpu_model.parameters(), cuda_model.parameters()):
        assert torch.allclose(a, b, atol=1e-3)
    _, on_cpu = evaluate_model(CharScorer(cuda_model), eval_tasks, seed=0, n_boot=0)
    _, on_gpu = evaluate_model(CharScorer(cuda_model.to("cuda")), eval_tasks, seed=0, n_boot=0)
    for r, s in zip(on_cpu, on_gpu):
        assert abs(r["value"] - s["value"]) < 1e-4 or r["metric"] == "stored_bits"


def test_run_and_eval_refuse_a_missing_device_in_one_line(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is here")
    for args in (["run", "--preset", "micro", "--out", tmp_path / "r", "--device", "cuda"],
                 ["eval", "--model", tmp_path, "--tasks", "add1", "--out", tmp_path / "e",
                  "--device", "cuda"]):
        r = run_cli(*args)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, r.stderr
        assert lines[0].startswith("error: --device cuda: no CUDA device here (this PyTorch is ")
    assert not (tmp_path / "r").exists() and not (tmp_path / "e").exists()


def test_gpu_preset_spans_two_decades_and_its_bench_runs_on_the_cpu():
    cfg = load_preset("gpu")
    _, mixture, members = setup(cfg)
    sizes = [m.config.params_nonembed() for m in members]
    assert 0.5e6 < min(sizes) < 2e6 and 50e6 < max(sizes) < 150e6
    spec = importlib.util.spec_from_file_location("gpu_throughput", ROOT / "bench" /
                                                  "gpu_throughput.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    small = load_preset("micro")
    _, mix, ms = setup(small)
    row = bench.measure(ms[0], mix, small.train, torch.device("cpu"), steps=2)
    assert row["tokens_per_s"] > 0 and row["kernels"] == "fp32+sdpa"
    json.dumps(row)  # what --json prints


def test_auto_batch_size_halves_until_a_batch_fits():
    from emergelab.evaluate.batch_size import largest_fitting

    tried = []

    def fits_up_to_100(size):
        tried.append(size)
        if size > 100:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    assert largest_fitting(fits_up_to_100, 512) == 64 and tried == [512, 256, 128, 64]
    with pytest.raises(ValueError):  # anything but running out of memory is not swallowed
        largest_fitting(lambda size: (_ for _ in ()).throw(ValueError("shape")), 8)
    with pytest.raises(UserError, match="not even one example fits"):
        largest_fitting(lambda size: (_ for _ in ()).throw(MemoryError()), 4)
