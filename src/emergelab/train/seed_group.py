"""Several training seeds of one member shape trained together, as one stacked model
(models/stacked.py), each seed with its own initialisation, data order, checkpoints and resume
point — the same files, in the same format, as the seed trained alone writes.

Each seed's weights end as those of the seed trained alone up to floating-point rounding (the
batched ops sum in another order; tests/test_seed_groups.py states the tolerance), so a group may
be resumed alone and a lone seed resumed in a group. AdamW's update is element-wise, so one fused
AdamW over the stacked weights is each seed's own; gradient clipping is per seed.
"""

from __future__ import annotations

import json
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
from ..models.stacked import StackedBatch, StackedGPT
from ..tasks import EVAL
from .checkpoint import load_train_state
from .kernels import Kernels
from .loop import make_optimizer, write_checkpoint
from .schedule import checkpoint_steps, lr_at

log = logging.getLogger("emergelab")


def resume_steps(model_dirs: list[Path]) -> list[int]:
    """The step each member's resume point is at (0 without one)."""
    steps = []
    for d in model_dirs:
        state = Path(d) / "train_state" / "state.json"
        steps.append(int(json.loads(state.read_text())["step"]) if state.exists() else 0)
    return steps


def stacked_optimizer(model: StackedGPT, cfg: TrainConfig) -> torch.optim.AdamW:
    """make_optimizer's groups and settings over the stacked weights (decay on what is a matrix
    in one seed's GPT), in GPT's parameter order."""
    named = model.named_stacked()
    decay = [p for n, p in named if p.dim() - 1 >= 2 and not n.startswith("wpe")]
    no_decay = [p for n, p in named if p.dim() - 1 < 2 or n.startswith("wpe")]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=True)


def _params_in_order(opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for g in opt.param_groups for p in g["params"]]


def _load_states(stacked_opt, lone_opts) -> None:
    """Stack each seed's AdamW state (after a resume) into the group's optimizer."""
    lone_params = [_params_in_order(o) for o in lone_opts]
    for i, p in enumerate(_params_in_order(stacked_opt)):
        states = [o.state.get(lp[i]) for o, lp in zip(lone_opts, lone_params)]
        if any(not st for st in states):
            continue
        stacked_opt.state[p] = {"step": states[0]["step"].clone(),
                                **{k: torch.stack([st[k] for st in states])
                                   for k in ("exp_avg", "exp_avg_sq")}}


def _unstack_state(stacked_opt, lone_opt, s: int) -> None:
    """Seed s's share of the group's AdamW state, into its lone optimizer (to write its resume
    point in the lone format)."""
    lr = stacked_opt.param_groups[0]["lr"]
    for g in lone_opt.param_groups:
        g["lr"] = lr
    for p, lp in zip(_params_in_order(stacked_opt), _params_in_order(lone_opt)):
        st = stacked_opt.state.get(p)
        if st:
            lone_opt.state[lp] = {"step": st["step"].clone(), "exp_avg": st["exp_avg"][s].clone(),
                                  "exp_avg_sq": st["exp_avg_sq"][s].clone()}


def clip_per_seed(params: list[torch.Tensor], max_norm: float) -> None:
    """clip_grad_norm_ for each seed on its own (its gradients' total norm over all weights)."""
    sq = sum(p.grad.pow(2).flatten(1).sum(1) for p in params)
    coef = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
    for p in params:
        p.grad.mul_(coef.view(-1, *([1] * (p.dim() - 1))))


def group_step(model: StackedGPT, opt: torch.optim.Optimizer, batch: StackedBatch, autocast,
               grad_clip: float) -> None:
    """One training step of every seed: each seed's mean answer-token cross-entropy (as
    loop.train_step), summed over seeds (their weights are disjoint, so each gets its own)."""
    with autocast():
        logits = model(batch)
    S, M, V = logits.shape
    ce = F.cross_entropy(logits.float().reshape(S * M, V), batch.targets.reshape(-1),
                         reduction="none", ignore_index=-100).view(S, M).sum(1)
    opt.zero_grad(set_to_none=True)
    (ce / batch.counts.clamp(min=1)).sum().backward()
    if grad_clip > 0:
        clip_per_seed(list(model.parameters()), grad_clip)
    opt.step()


def train_group(members: list[Member], mixtures: list[Mixture], cfg: TrainConfig,
                model_dirs: list[Path], on_step: Callable[[int], None] | None = None,
                stop_at: int | None = None, kernels: Kernels | None = None,
                batches: list[PrebuiltBatches | None] | None = None) -> None:
    """Train members (one shape, several seeds) together on the CPU, each from its own resume
    point (all at one step: resume_steps), writing each one's checkpoints to its model_dir as
    train_member would. stop_at ends early after that step's work (resume tests)."""
    if len({m.config for m in members}) != 1:
        raise ValueError("a seed group trains members of one shape")
    starts = resume_steps(model_dirs)
    if len(set(starts)) != 1:
        raise ValueError("a seed group's members must resume from one step")
    kernels = kernels or Kernels.fixed(cfg.precision, cfg.attention)
    precision = "bf16" if kernels.precision == "bf16" else "fp32"
    autocast = partial(kernels.autocast, "cpu")
    ckpts = set(checkpoint_steps(cfg.steps, cfg.checkpoints))
    batches = batches or [None] * len(members)
    lone, opts, tokens, val_batches = [], [], [], []
    for m, mix, d in zip(members, mixtures, model_dirs):
        torch.manual_seed(m.init_seed)
        model = GPT(m.config)  # initialised as the member alone is
        model.set_attention_kernel(kernels.attention)
        opt = make_optimizer(model, cfg)
        meta = load_train_state(model, opt, Path(d) / "train_state")
        if meta and meta.get("precision") != precision:
            raise UserError(f"{m.model_id}: its checkpoint at step {meta['step']} was trained in "
                            f"{meta.get('precision')} and this run would continue in "
                            f"{precision}; set train.precision = {meta.get('precision')!r} to "
                            "resume it, or use another --out")
        lone.append(model)
        opts.append(opt)
        tokens.append(meta["tokens"] if meta else 0)
        val_batches.append(mix.packed_batch(0, cfg.val_batch, split=EVAL))
        if not meta:
            write_checkpoint(model, opt, m, Path(d), 0, 0, kernels, val_batches[-1], autocast)
    start = starts[0]
    if start:
        log.info("%s: resuming %d seeds together from step %d", members[0].model_id,
                 len(members), start)
    stacked = StackedGPT(lone)
    stacked.set_attention_kernel(kernels.attention)
    opt = stacked_optimizer(stacked, cfg)
    _load_states(opt, opts)
    pad_id = mixtures[0].tok.pad_id

    def checkpoint(step: int) -> None:
        for s, (m, model, lone_opt, d) in enumerate(zip(members, lone, opts, model_dirs)):
            model.load_state_dict(stacked.seed_state(s))
            _unstack_state(opt, lone_opt, s)
            write_checkpoint(model, lone_opt, m, Path(d), step, tokens[s], kernels,
                             val_batches[s], autocast)

    stacked.train()
    for step in range(start, cfg.steps):
        own: list[Batch] = [b.batch(step) if b is not None and step < len(b)
                            else mix.packed_batch(step, cfg.batch_size)
                            for b, mix in zip(batches, mixtures)]
        batch = StackedBatch.of(own, pad_id)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg.lr, cfg.steps, cfg.warmup_steps, cfg.min_lr_ratio)
        group_step(stacked, opt, batch, autocast, cfg.grad_clip)
        tokens = [t + n for t, n in zip(tokens, batch.tokens)]
        if step + 1 in ckpts:
            checkpoint(step + 1)
        if on_step:
            on_step(step + 1)
        if stop_at is not None and step + 1 >= stop_at:
            return
