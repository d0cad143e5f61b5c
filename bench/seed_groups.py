"""Seeds trained stacked against the same seeds trained one after another, in the same run.

For each of the quick preset's three smallest member shapes, 4 seeds (each its own initialisation
and data order) train STEPS steps:
- separate: each seed as a run trains it alone (train_member's step on its own batches);
- batched: all 4 in one stacked model (train/seed_group.py: models/stacked.py's bmm layers, one
  fused AdamW, per-seed clipping), its batches stacked every step (that cost is included).
Both on one thread (a run's default worker), in rounds alternating the order, keeping each side's
fastest round. Prints seed-steps per second and the ratio, and how the run's chooser would decide
(batched only when >= 5% faster).

Usage: python bench/seed_groups.py [--steps 20] [--seeds 4] [--rounds 3] [--batch-size 256]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from emergelab.config import load_preset
from emergelab.experiment import member_mixture, setup
from emergelab.models.gpt import GPT
from emergelab.models.stacked import StackedBatch, StackedGPT
from emergelab.train.kernels import GROUP_MARGIN, Kernels
from emergelab.train.loop import make_optimizer, train_step
from emergelab.train.seed_group import group_step, stacked_optimizer


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = load_preset("quick")
    cfg = cfg.model_copy(update={
        "ladder": cfg.ladder.model_copy(update={"seeds": list(range(args.seeds))}),
        "train": cfg.train.model_copy(update={"batch_size": args.batch_size})})
    _, mixture, members = setup(cfg)
    k = Kernels("fp32", "sdpa")
    print(f"CPU: {cpu_name()}; torch {torch.__version__}; 1 thread; {args.seeds} seeds, "
          f"{args.steps} steps of {args.batch_size} rows, best of {args.rounds} rounds")
    print(f"{'member':>10} {'params':>8} {'separate':>12} {'batched':>12} {'ratio':>6}  chooser")
    shapes = sorted({m.config for m in members}, key=lambda c: c.params_nonembed())[:3]
    for shape in shapes:
        group = [m for m in members if m.config == shape]
        mixes = [member_mixture(cfg, mixture, m) for m in group]
        batches = [[mx.packed_batch(s, args.batch_size) for s in range(args.steps + 2)]
                   for mx in mixes]
        models = []
        for m in group:
            torch.manual_seed(m.init_seed)
            models.append(GPT(shape))
        opts = [make_optimizer(m, cfg.train) for m in models]
        stacked = StackedGPT([GPT(shape) for _ in group])
        s_opt = stacked_optimizer(stacked, cfg.train)
        pad = mixes[0].tok.pad_id

        def separate(steps: range) -> None:
            for model, opt, b in zip(models, opts, batches):
                for s in steps:
                    train_step(model, opt, b[s], k.autocast, cfg.train.grad_clip)

        def batched(steps: range) -> None:
            for s in steps:
                group_step(stacked, s_opt, StackedBatch.of([b[s] for b in batches], pad),
                           k.autocast, cfg.train.grad_clip)

        sides = {"separate": separate, "batched": batched}
        for f in sides.values():  # warm-up, untimed
            f(range(2))
        best = {n: float("inf") for n in sides}
        for r in range(args.rounds):
            for name in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
                t = time.perf_counter()
                sides[name](range(2, args.steps + 2))
                best[name] = min(best[name], time.perf_counter() - t)
        rate = {n: args.seeds * args.steps / v for n, v in best.items()}
        ratio = rate["batched"] / rate["separate"]
        choice = "batched" if best["batched"] < (1 - GROUP_MARGIN) * best["separate"] else \
            "separate"
        print(f"{'d' + str(shape.d_model):>10} {shape.params_nonembed():>8,} "
              f"{rate['separate']:>8.1f} s-s/s {rate['batched']:>8.1f} s-s/s {ratio:>5.2f}x  "
              f"{choice}")


if __name__ == "__main__":
    main()
