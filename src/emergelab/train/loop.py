"""The training loop for one ladder member: AdamW, warm-up + cosine, loss on answer tokens only,
log-spaced checkpoints with validation loss, resume from the last checkpoint.

Determinism is what makes resume exact: batch s is a function of (seed, s), dropout is off, and
the optimizer state travels with the checkpoint, so a run killed at any point and resumed ends
with the same weights as one that never stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

from ..config import TrainConfig
from ..data.mixture import Batch, Mixture
from ..data.prebuilt import PrebuiltBatches
from ..errors import UserError
from ..models.gpt import GPT
from ..models.ladder import Member
from ..tasks import EVAL
from .checkpoint import load_train_state, save_checkpoint, save_train_state
from .kernels import Kernels
from .schedule import checkpoint_steps, lr_at

log = logging.getLogger("emergelab")


def make_optimizer(model: GPT, cfg: TrainConfig) -> torch.optim.AdamW:
    # weight decay on matrices only; biases, LayerNorm gains and the position table are exempt
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith("wpe")]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2 or n.startswith("wpe")]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    # fused: one C++ kernel per step instead of ~10 ops per parameter (2x faster on small members)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=True)


def batch_loss(model: GPT, batch: Batch, autocast) -> torch.Tensor:
    """Sum of answer-token cross-entropies over the batch (logits of answer positions only)."""
    with autocast():
        logits = model.forward_packed([r.idx for r in batch.groups], batch.select)
    return F.cross_entropy(logits.float(), batch.targets, reduction="sum")


def train_step(model: GPT, opt: torch.optim.Optimizer, batch: Batch, autocast,
               grad_clip: float) -> None:
    loss = batch_loss(model, batch, autocast)
    opt.zero_grad(set_to_none=True)
    (loss / max(1, len(batch.targets))).backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()


@torch.no_grad()
def validation_loss(model: GPT, batch: Batch, autocast) -> float:
    model.eval()
    total = batch_loss(model, batch, autocast)
    model.train()
    return float(total) / max(1, len(batch.targets))


def write_checkpoint(model: GPT, opt: torch.optim.Optimizer, member: Member, model_dir: Path,
                     step: int, tokens: int, kernels: Kernels, val_batch: Batch,
                     autocast) -> None:
    """A checkpoint of `step` (weights, config, validation loss) and the resume point."""
    n_nonembed = model.get_num_params(True)
    precision = "bf16" if kernels.precision == "bf16" else "fp32"
    info = {"model_id": member.model_id, "seed": member.seed, "step": step, "tokens": tokens,
            "flops": 6 * n_nonembed * tokens, "params": model.get_num_params(False),
            "params_nonembed": n_nonembed, "val_loss": validation_loss(model, val_batch, autocast),
            "precision": precision, "attention": kernels.attention}
    save_checkpoint(model, model_dir / f"step_{step}", info)
    save_train_state(model, opt, model_dir / "train_state",
                     {"step": step, "tokens": tokens, "precision": precision})


def train_member(member: Member, mixture: Mixture, cfg: TrainConfig, model_dir: Path,
                 on_step: Callable[[int], None] | None = None,
                 stop_at: int | None = None,
                 monitor: Callable[[str, int, GPT], bool] | None = None,
                 kernels: Kernels | None = None, device="cpu",
                 batches: PrebuiltBatches | None = None) -> int | None:
    """Train one member on `device`, writing checkpoints (CPU tensors, so any device resumes or
    evaluates them) to model_dir; resumes if a train_state exists.

    kernels: the precision and attention kernel to train with, as measured for this member's
    shape (train/kernels.py); None takes train.precision and train.attention as they stand.

    batches: the mixture's batches built ahead (data/prebuilt.py); steps beyond them, or all
    steps without them, build their batch from the mixture here.

    stop_at ends the loop early after that step's work (as a kill would), for resume tests.
    monitor(model_id, step, model) runs after every step; when it returns True a checkpoint is
    saved and training stops: the step is returned (None when training ran to the end).
    """
    model_dir = Path(model_dir)
    state_dir = model_dir / "train_state"
    ckpts = set(checkpoint_steps(cfg.steps, cfg.checkpoints))
    device = torch.device(device)
    torch.manual_seed(member.init_seed)
    model = GPT(member.config).to(device)  # initialised on the CPU: the same weights anywhere
    opt = make_optimizer(model, cfg)
    kernels = kernels or Kernels.fixed(cfg.precision, cfg.attention)
    bf16 = kernels.precision == "bf16"
    model.set_attention_kernel(kernels.attention)
    autocast = partial(kernels.autocast, device)
    val_batch = mixture.packed_batch(0, cfg.val_batch, split=EVAL).to(device)

    meta = load_train_state(model, opt, state_dir)
    start, tokens = (meta["step"], meta["tokens"]) if meta else (0, 0)
    if meta:
        log.info("%s: resuming from its checkpoint at step %d", member.model_id, start)
    if meta and meta.get("precision") != ("bf16" if bf16 else "fp32"):
        raise UserError(f"{member.model_id}: its checkpoint at step {start} was trained in "
                        f"{meta.get('precision')} and this run would continue in "
                        f"{'bf16' if bf16 else 'fp32'} (train.precision = {cfg.precision!r}); "
                        f"set train.precision = {meta.get('precision')!r} to resume it, or use "
                        "another --out")

    def checkpoint(step: int) -> None:
        write_checkpoint(model, opt, member, model_dir, step, tokens, kernels, val_batch, autocast)

    if start == 0 and not meta:
        checkpoint(0)
    model.train()
    for step in range(start, cfg.steps):
        # prebuilt, or built here (not in a background thread: its Python holds the GIL the
        # step's own dispatch needs, measured slower, and in a pool every core is busy anyway)
        batch = (batches.batch(step) if batches is not None and step < len(batches)
                 else mixture.packed_batch(step, cfg.batch_size)).to(device)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg.lr, cfg.steps, cfg.warmup_steps, cfg.min_lr_ratio)
        train_step(model, opt, batch, autocast, cfg.grad_clip)
        tokens += batch.tokens
        if step + 1 in ckpts:
            checkpoint(step + 1)
        if on_step:
            on_step(step + 1)
        if monitor is not None and monitor(member.model_id, step + 1, model):
            if step + 1 not in ckpts:
                checkpoint(step + 1)
            return step + 1
        if stop_at is not None and step + 1 >= stop_at:
            return None
    return None
