"""The training loop for one ladder member: AdamW, warm-up + cosine, loss on answer tokens only,
log-spaced checkpoints with validation loss, resume from the last checkpoint.

Determinism is what makes resume exact: batch s is a function of (seed, s), dropout is off, and
the optimizer state travels with the checkpoint, so a run killed at any point and resumed ends
with the same weights as one that never stopped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from ..config import TrainConfig
from ..data.mixture import Mixture, Rows
from ..errors import UserError
from ..models.gpt import GPT
from ..models.ladder import Member
from ..tasks import EVAL
from .checkpoint import load_train_state, save_checkpoint, save_train_state
from .schedule import checkpoint_steps, lr_at

# bf16 autocast pays off on CPUs with AMX only once matmuls are wide enough: on this machine it was
# slower than fp32 up to d_model 160, a tie at 256, and 1.4-1.5x faster at 384-512
# (bench/train_throughput.py; docs/training.md).
BF16_MIN_D_MODEL = 320


def use_bf16(precision: str, d_model: int) -> bool:
    if precision == "bf16":
        return True
    if precision == "fp32":
        return False
    return d_model >= BF16_MIN_D_MODEL and torch.backends.mkldnn.is_available() and _cpu_has_bf16()


def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags


def make_optimizer(model: GPT, cfg: TrainConfig) -> torch.optim.AdamW:
    # weight decay on matrices only; biases, LayerNorm gains and the position table are exempt
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith("wpe")]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2 or n.startswith("wpe")]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), foreach=True)


def rows_loss(model: GPT, groups: list[Rows], autocast) -> tuple[torch.Tensor, int, int]:
    """Sum of answer-token cross-entropies over all groups, answer-token count, tokens processed."""
    total = torch.zeros(())
    n_ans = n_tok = 0
    for rows in groups:
        with autocast():
            logits = model(rows.idx)
        logits = logits.float()[rows.mask]
        total = total + F.cross_entropy(logits, rows.targets[rows.mask], reduction="sum")
        n_ans += int(rows.mask.sum())
        n_tok += int((rows.idx != 0).sum())
    return total, n_ans, n_tok


@torch.no_grad()
def validation_loss(model: GPT, groups: list[Rows], autocast) -> float:
    model.eval()
    total, n_ans, _ = rows_loss(model, groups, autocast)
    model.train()
    return float(total) / max(1, n_ans)


def train_member(member: Member, mixture: Mixture, cfg: TrainConfig, model_dir: Path,
                 on_step: Callable[[int], None] | None = None,
                 stop_at: int | None = None,
                 monitor: Callable[[str, int, GPT], bool] | None = None) -> int | None:
    """Train one member, writing checkpoints to model_dir; resumes if a train_state exists.

    stop_at ends the loop early after that step's work (as a kill would), for resume tests.
    monitor(model_id, step, model) runs after every step; when it returns True a checkpoint is
    saved and training stops: the step is returned (None when training ran to the end).
    """
    model_dir = Path(model_dir)
    state_dir = model_dir / "train_state"
    ckpts = set(checkpoint_steps(cfg.steps, cfg.checkpoints))
    torch.manual_seed(member.seed)
    model = GPT(member.config)
    opt = make_optimizer(model, cfg)
    bf16 = use_bf16(cfg.precision, member.config.d_model)
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    val_groups = mixture.batch(0, cfg.val_batch, split=EVAL)
    n_nonembed = model.get_num_params(True)

    meta = load_train_state(model, opt, state_dir)
    start, tokens = (meta["step"], meta["tokens"]) if meta else (0, 0)
    if meta and meta.get("precision") != ("bf16" if bf16 else "fp32"):
        raise UserError(f"{member.model_id}: its checkpoint at step {start} was trained in "
                        f"{meta.get('precision')} and this run would continue in "
                        f"{'bf16' if bf16 else 'fp32'} (train.precision = {cfg.precision!r}); "
                        f"set train.precision = {meta.get('precision')!r} to resume it, or use "
                        "another --out")

    def checkpoint(step: int) -> None:
        info = {"model_id": member.model_id, "seed": member.seed, "step": step, "tokens": tokens,
                "flops": 6 * n_nonembed * tokens, "params": model.get_num_params(False),
                "params_nonembed": n_nonembed, "val_loss": validation_loss(model, val_groups, autocast),
                "precision": "bf16" if bf16 else "fp32"}
        save_checkpoint(model, model_dir / f"step_{step}", info)
        save_train_state(model, opt, state_dir, {"step": step, "tokens": tokens,
                                                 "precision": info["precision"]})

    if start == 0 and not meta:
        checkpoint(0)
    model.train()
    for step in range(start, cfg.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg.lr, cfg.steps, cfg.warmup_steps, cfg.min_lr_ratio)
        groups = mixture.batch(step, cfg.batch_size)
        loss_sum, n_ans, n_tok = rows_loss(model, groups, autocast)
        opt.zero_grad(set_to_none=True)
        (loss_sum / max(1, n_ans)).backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        tokens += n_tok
        if step + 1 in ckpts:
            checkpoint(step + 1)
        if on_step:
            on_step(step + 1)
        if monitor is not None and monitor(member.model_id, step + 1, model):
            if step + 1 not in ckpts:
                checkpoint(step + 1)
            return step + 1
        if stop_at is not None and step + 1 >= stop_at:
            return
