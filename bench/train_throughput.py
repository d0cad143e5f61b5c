"""Training throughput of EmergeLab's trainer against a plain reference loop, in the same run.

Reference: the loop most people write first — fp32, no compile, the whole batch padded to its
longest row, cross-entropy with ignore_index on non-answer tokens, torch.optim.AdamW defaults.
Trainer: what `train_member` runs — rows grouped by task and packed into one forward pass
(position-wise layers once over all groups' tokens, attention per group), the output head on
answer positions only, fused AdamW, and the precision and attention kernel that a run measures
for each member shape (train/kernels.py; precision "auto"). Both see the same model (same init)
and the same batches.

Prints the CPU's bf16 features, tokens/s (real, non-pad tokens), the ratio, which kernels each
size used, and MFU against matmul peaks measured here. "fp32" is the trainer held to fp32, so the
two sources of speed are shown apart.
Usage: python bench/train_throughput.py [--steps 8] [--sizes 64,160,256,384,512]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from emergelab.config import TrainConfig, load_preset
from emergelab.data.mixture import Mixture, encode_rows
from emergelab.models.gpt import GPT
from emergelab.models.ladder import build_ladder
from emergelab.tasks import build_task
from emergelab.train.kernels import Kernels, candidates, pick, time_candidates
from emergelab.train.loop import make_optimizer, train_step


def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(2):
        a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t)


def reference_step(model, opt, rows) -> None:
    logits = model(rows.idx)
    targets = rows.targets.masked_fill(~rows.mask, -100)
    loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-100)
    opt.zero_grad()
    loss.backward()
    opt.step()


def cpu_bf16_features() -> str:
    try:
        flags = set(open("/proc/cpuinfo").read().split())
    except OSError:
        return "unknown (no /proc/cpuinfo)"
    found = sorted(f for f in ("avx512_bf16", "amx_bf16", "amx_tile", "bf16") if f in flags)
    return ", ".join(found) or "none"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--sizes", default="64,160,256,384,512", help="d_model values")
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()

    cfg = load_preset("quick")
    tasks = [build_task(t.name, t.variant, **t.options) for t in cfg.tasks]
    mix = Mixture(tasks, [t.weight for t in cfg.tasks], seed=0)
    steps = list(range(args.steps + 2))  # two warm-up steps
    grouped = [mix.packed_batch(s, args.batch) for s in steps]
    padded = [encode_rows([e for g in mix.examples(s, args.batch).values() for e in g], mix.tok)
              for s in steps]
    real_tokens = sum(int((r.idx != 0).sum()) for r in padded[2:])
    peak32, peak16 = matmul_peak(torch.float32), matmul_peak(torch.bfloat16)
    print(f"CPU bf16 features: {cpu_bf16_features()}; {torch.get_num_threads()} threads")
    print(f"matmul peak here: fp32 {peak32 / 1e9:.0f} GFLOP/s, bf16 {peak16 / 1e9:.0f} GFLOP/s")
    print(f"{'d_model':>7} {'params':>10} {'ref tok/s':>10} {'fp32 tok/s':>10} {'ratio':>6} "
          f"{'auto tok/s':>10} {'ratio':>6} {'auto':>12} {'MFU ref':>8} {'MFU fp32':>8} {'MFU auto':>8}")
    tcfg = TrainConfig()
    for member in build_ladder([int(s) for s in args.sizes.split(",")], [0], 98, 64):
        d = member.config.d_model
        fp32 = pick(time_candidates(member.config, mix, tcfg, candidates("fp32")))
        auto = pick(time_candidates(member.config, mix, tcfg, candidates("auto")))
        bf16 = auto.precision == "bf16"
        timings = {}
        for name in ("reference", "fp32", "auto"):
            kernels = {"fp32": fp32, "auto": auto}.get(name, Kernels())
            torch.manual_seed(0)
            model = GPT(member.config)
            model.set_attention_kernel(kernels.attention)
            if name == "reference":
                opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
            else:
                opt = make_optimizer(model, tcfg)
            for i, s in enumerate(steps):
                if i == 2:
                    t = time.perf_counter()
                if name == "reference":
                    reference_step(model, opt, padded[i])
                else:
                    train_step(model, opt, grouped[i], kernels.autocast, tcfg.grad_clip)
            timings[name] = time.perf_counter() - t
        flops = model.flops_per_token() * real_tokens
        ref, f32, auto = (real_tokens / timings[k] for k in ("reference", "fp32", "auto"))
        peak = peak16 if bf16 else peak32
        print(f"{d:>7} {member.config.params_nonembed():>10,} {ref:>10,.0f} {f32:>10,.0f} "
              f"{f32 / ref:>6.2f} {auto:>10,.0f} {auto / ref:>6.2f} {kernels.precision + '+' + kernels.attention:>12} "
              f"{flops / timings['reference'] / peak32:>8.1%} {flops / timings['fp32'] / peak32:>8.1%} "
              f"{flops / timings['auto'] / peak:>8.1%}")


if __name__ == "__main__":
    main()
