"""Tokens/s and MFU of every member of the `gpu` preset on one device, as `train_member` trains it
(packed batches, fused AdamW, the kernels `Kernels.on_accelerator` picks: bf16 autocast and
PyTorch's fused attention on CUDA).

MFU (model FLOPs utilisation, as nanoGPT's estimate_mfu and PaLM's appendix B): FLOPs a step needs
(6 per non-embedding parameter per token, plus attention's 12 * n_layer * d_model * T per token
with T the batch's mean row length) over the step's time, against the device's peak. The peak is
--peak-tflops, else a table of dense bf16 peaks by device name, else a square matmul measured
here (bf16 4096² on a GPU, fp32 1024² on a CPU; then MFU is against what a matmul reaches, said
in the output).

Run by bench/gpu_check.sh on a GPU machine. `--device cpu --sizes 128 --steps 2` runs the same
code on a CPU (what the tests do); it claims nothing about GPUs.
Usage: python bench/gpu_throughput.py [--device cuda] [--steps 20] [--sizes 128,256,...]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from emergelab.config import load_preset
from emergelab.device import describe, resolve_device, synchronize
from emergelab.errors import UserError
from emergelab.experiment import setup
from emergelab.models.gpt import GPT
from emergelab.train.kernels import Kernels
from emergelab.train.loop import make_optimizer, train_step

# dense bf16 tensor-core peaks (TFLOP/s) from the vendors' data sheets, SXM parts
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0,
               "L4": 121.0, "4090": 165.0, "3090": 71.0, "V100": 125.0}
WARMUP = 3


def peak_flops(device: torch.device, given: float | None) -> tuple[float, str]:
    if given:
        return given * 1e12, "given"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, tf in PEAK_TFLOPS.items():
            if key in name:
                return tf * 1e12, f"data sheet ({key} bf16 dense)"
    n, reps = (4096, 10) if device.type == "cuda" else (1024, 5)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ a
    synchronize(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ a
    synchronize(device)
    return 2 * n**3 * reps / (time.perf_counter() - t), f"measured {dtype} matmul"


def measure(member, mixture, tcfg, device, steps: int) -> dict:
    torch.manual_seed(0)
    model = GPT(member.config).to(device)
    kernels = Kernels.on_accelerator(tcfg.precision, tcfg.attention, device) \
        if device.type != "cpu" else Kernels.fixed(tcfg.precision, tcfg.attention)
    model.set_attention_kernel(kernels.attention)
    opt = make_optimizer(model, tcfg)
    batches = [mixture.packed_batch(s, tcfg.batch_size).to(device) for s in range(WARMUP + steps)]
    autocast = lambda: kernels.autocast(device)  # noqa: E731
    for b in batches[:WARMUP]:
        train_step(model, opt, b, autocast, tcfg.grad_clip)
    synchronize(device)
    t = time.perf_counter()
    for b in batches[WARMUP:]:
        train_step(model, opt, b, autocast, tcfg.grad_clip)
    synchronize(device)
    seconds = time.perf_counter() - t
    timed = batches[WARMUP:]
    tokens = sum(b.tokens for b in timed)
    rows = sum(r.idx.shape[0] for b in timed for r in b.groups)
    c = member.config
    mean_len = tokens / rows
    flops = tokens * (6 * c.params_nonembed() + 12 * c.n_layer * c.d_model * mean_len)
    return {"model_id": member.model_id, "params_nonembed": c.params_nonembed(),
            "kernels": f"{kernels.precision}+{kernels.attention}", "tokens_per_s": tokens / seconds,
            "ms_per_step": 1e3 * seconds / steps, "flops_per_s": flops / seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--sizes", default=None, help="d_model values (default: the preset's)")
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    try:
        device = resolve_device(args.device)
    except UserError as err:
        raise SystemExit(f"error: {err}") from None
    cfg = load_preset("gpu")
    if args.sizes:
        cfg = cfg.model_copy(update={"ladder": cfg.ladder.model_copy(
            update={"d_models": [int(x) for x in args.sizes.split(",")]})})
    _, mixture, members = setup(cfg)
    peak, source = peak_flops(device, args.peak_tflops)
    rows = []
    for m in members:
        r = measure(m, mixture, cfg.train, device, args.steps)
        r["mfu"] = r["flops_per_s"] / peak
        rows.append(r)
        if not args.json:
            print(f"{r['model_id']:>12} {r['params_nonembed'] / 1e6:8.2f}M  {r['kernels']:12} "
                  f"{r['tokens_per_s']:12,.0f} tok/s  {r['ms_per_step']:8.1f} ms/step  "
                  f"MFU {100 * r['mfu']:5.1f}%", flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if args.json:
        print(json.dumps({"device": describe(device), "peak_flops": peak, "peak_source": source,
                          "members": rows}))
    else:
        print(f"device {describe(device)}; peak {peak / 1e12:.3g} TFLOP/s ({source}); "
              f"batch {cfg.train.batch_size} rows, {args.steps} timed steps after {WARMUP}")


if __name__ == "__main__":
    main()
