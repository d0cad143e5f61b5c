"""Which precision and attention kernel each member trains with, chosen by timing them here.

Whether bf16 pays depends on the CPU (AMX, AVX-512 BF16 or neither), on the member's width and on
PyTorch's kernel for each op at that width; no CPU flag predicts it. On a Zen 4 with AVX-512 BF16
a bf16 matmul runs 2.7x fp32, yet bf16 autocast slows a d_model-8 member down (its time goes to
casts and element-wise ops, not matmuls), and PyTorch's CPU flash attention is fast in fp32 and
slow in bf16 at our short sequences. So a run times a few real training steps of each member
shape with each candidate, keeps the fastest, and writes the choice to the run directory
(kernels.json): a resumed run trains on with the numerics it started with.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch

from ..errors import UserError

# bf16 must beat fp32 by this much to be chosen: fp32 is the reference numerics, and a closer
# call is within the timing noise of a few steps
BF16_MARGIN = 0.05
WARMUP_STEPS = 1
TIMED_STEPS = 3


@dataclass(frozen=True)
class Kernels:
    precision: Literal["fp32", "bf16"] = "fp32"
    attention: Literal["sdpa", "matmul"] = "sdpa"

    @classmethod
    def fixed(cls, precision: str, attention: str = "auto") -> Kernels:
        """What train.precision and train.attention give without measuring ("auto" precision is
        then fp32; "auto" attention the faster one in our measurements for that precision)."""
        bf16 = precision == "bf16"
        if attention == "auto":
            attention = "matmul" if bf16 else "sdpa"
        return cls("bf16" if bf16 else "fp32", attention)

    def autocast(self, device="cpu"):
        """The context a training forward runs in on `device` (device.py owns what that is)."""
        from ..device import autocast

        return autocast(device, self.precision)

    @classmethod
    def on_accelerator(cls, precision: str, attention: str, device) -> Kernels:
        """No timing on a GPU: bf16 autocast (tensor cores; float32's range) unless pinned, and
        PyTorch's fused attention (flash / memory-efficient kernels) unless pinned. Apple's MPS
        keeps fp32 unless told otherwise."""
        kind = torch.device(device).type
        if precision == "auto":
            precision = "bf16" if kind == "cuda" else "fp32"
        return cls("bf16" if precision == "bf16" else "fp32",
                   "sdpa" if attention == "auto" else attention)


def bf16_available() -> bool:
    """Whether this PyTorch can run bf16 autocast on the CPU at all (oneDNN present)."""
    return torch.backends.mkldnn.is_available()


def candidates(precision: str, attention: str = "auto") -> list[Kernels]:
    if precision == "auto":
        precisions = ["fp32", "bf16"] if bf16_available() else ["fp32"]
    else:
        precisions = [precision]
    attentions = ["sdpa", "matmul"] if attention == "auto" else [attention]
    return [Kernels(p, a) for p in precisions for a in attentions]


def time_candidates(config, mixture, train_cfg, options: list[Kernels]) -> dict[Kernels, float]:
    """Seconds per training step of a fresh model of `config` under each option, on the same real
    batches. Successive halving: every option gets a short heat (its first steps warm the
    kernels up, then TIMED_STEPS are timed); the fastest of each precision runs one more heat
    and keeps its better time, so a close call is timed twice and a clear loser only once."""
    from ..models.gpt import GPT
    from .loop import make_optimizer, train_step

    batches = [mixture.packed_batch(s, train_cfg.batch_size)
               for s in range(WARMUP_STEPS + TIMED_STEPS)]
    runs = {}
    for k in options:
        torch.manual_seed(0)
        model = GPT(config)
        model.set_attention_kernel(k.attention)
        runs[k] = (model, make_optimizer(model, train_cfg))

    def heat(k: Kernels, warmup: int) -> float:
        model, opt = runs[k]
        for b in batches[:warmup]:
            train_step(model, opt, b, k.autocast, train_cfg.grad_clip)
        t = time.perf_counter()
        for b in batches[WARMUP_STEPS:]:
            train_step(model, opt, b, k.autocast, train_cfg.grad_clip)
        return (time.perf_counter() - t) / TIMED_STEPS

    best = {k: heat(k, WARMUP_STEPS) for k in options}
    for p in {k.precision for k in options}:
        k = min((k for k in options if k.precision == p), key=best.get)
        best[k] = min(best[k], heat(k, 0))
    return best


def pick(timings: dict[Kernels, float]) -> Kernels:
    fastest = {p: min((k for k in timings if k.precision == p), key=timings.get, default=None)
               for p in ("fp32", "bf16")}
    f32, b16 = fastest["fp32"], fastest["bf16"]
    if f32 is None:
        return b16
    if b16 is not None and timings[b16] < (1 - BF16_MARGIN) * timings[f32]:
        return b16
    return f32


def choose_kernels(members, mixture, train_cfg, path: Path,
                   on_measure=None, device="cpu") -> dict[str, Kernels]:
    """Kernels for every member (by model_id): read from path when a run recorded them, else
    measured once per distinct shape on the CPU (Kernels.on_accelerator elsewhere) and recorded
    there (atomically)."""
    from ..store import write_atomic

    recorded = _read(path)
    if recorded is not None and all(m.model_id in recorded for m in members):
        return {m.model_id: recorded[m.model_id] for m in members}
    record = json.loads(path.read_text()) if recorded is not None else {"members": {}}
    by_shape: dict = {}
    for m in members:
        if recorded is not None and m.model_id in recorded:
            continue
        if m.config not in by_shape:
            options = (candidates(train_cfg.precision, train_cfg.attention)
                       if torch.device(device).type == "cpu" else
                       [Kernels.on_accelerator(train_cfg.precision, train_cfg.attention, device)])
            timings = {}
            if len(options) > 1:  # nothing to choose when the config pins both
                if on_measure:
                    on_measure(m.model_id)
                timings = time_candidates(m.config, mixture, train_cfg, options)
            by_shape[m.config] = (pick(timings) if timings else options[0], timings)
        choice, timings = by_shape[m.config]
        record["members"][m.model_id] = {
            **asdict(choice),
            "ms_per_step": {f"{k.precision}+{k.attention}": round(v * 1e3, 3)
                            for k, v in timings.items()}}
    record["threads"] = torch.get_num_threads()
    write_atomic(path, json.dumps(record, indent=1) + "\n")
    return {m.model_id: Kernels(record["members"][m.model_id]["precision"],
                                record["members"][m.model_id]["attention"]) for m in members}


def recorded_threads(path: Path) -> int | None:
    """The intra-op thread count a run recorded with its kernels (its numbers depend on it)."""
    if not path.exists():
        return None
    try:
        return int(json.loads(path.read_text())["threads"])
    except (ValueError, KeyError, TypeError):
        return None


def _read(path: Path) -> dict[str, Kernels] | None:
    if not path.exists():
        return None
    try:
        members = json.loads(path.read_text())["members"]
        return {mid: Kernels(v["precision"], v["attention"]) for mid, v in members.items()}
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path} is not a kernel record EmergeLab wrote ({err}); "
                        "delete it to measure again") from None
