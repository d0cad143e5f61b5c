"""A GPT-style decoder in one file: pre-norm blocks, causal scaled-dot-product attention, GELU MLP,
learned positions, output head tied to the token embedding.

Batches may be left-padded: `forward` takes a key-padding mask and derives each row's positions
from it, so a prompt gets the same logits whatever else shares its batch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class GPTConfig:
    """Shape of one model. All sizes are in tokens or features."""

    vocab_size: int = 99      # the character vocabulary (CharTokenizer().vocab_size)
    block_size: int = 128     # longest sequence the position table covers
    n_layer: int = 2          # transformer blocks
    n_head: int = 2           # attention heads; d_model must be divisible by it
    d_model: int = 32         # residual stream width; the MLP is 4x wider

    def __post_init__(self) -> None:
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_head {self.n_head}")

    def to_dict(self) -> dict:
        return asdict(self)

    # Closed-form counts (Kaplan et al. 2020 count non-embedding parameters).
    def params_nonembed(self) -> int:
        d = self.d_model
        # per block: 2 LayerNorms (4d), qkv (3d^2+3d), attn proj (d^2+d), MLP (8d^2+5d)
        return self.n_layer * (12 * d * d + 13 * d) + 2 * d  # + final LayerNorm

    def params_total(self) -> int:
        # token table (shared with the output head) + position table
        return self.params_nonembed() + (self.vocab_size + self.block_size) * self.d_model


class SelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if q.dtype == torch.bfloat16:
            # PyTorch's CPU flash-attention backward is ~3x slower in bf16 than fp32 at our short
            # sequences and small heads; plain matmul attention lets bf16 use AMX (bench/).
            y = _matmul_attention(q, k, v, mask)
        elif mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))


def _matmul_attention(q, k, v, mask: torch.Tensor | None) -> torch.Tensor:
    T = q.shape[-2]
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    if mask is None:
        mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    att = att.masked_fill(~mask, float("-inf"))
    return att.softmax(-1) @ v


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.fc = nn.Linear(cfg.d_model, 4 * cfg.d_model)
        self.out = nn.Linear(4 * cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), mask)
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.wpe = nn.Embedding(cfg.block_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.apply(self._init)
        # GPT-2's scaled init of the residual projections keeps the stream's variance flat in depth
        for name, p in self.named_parameters():
            if name.endswith("proj.weight") or name.endswith("out.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def get_num_params(self, non_embedding: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.wte.weight.numel() + self.wpe.weight.numel()
        return n

    def forward(self, idx: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits for every position. pad_mask (B, T) is True on real tokens; padding must be on
        the left (used for generation); None means no padding."""
        B, T = idx.shape
        if T > self.cfg.block_size:
            raise ValueError(f"sequence of {T} tokens exceeds block_size {self.cfg.block_size}")
        if pad_mask is None:
            pos = torch.arange(T, device=idx.device).expand(B, T)
            attn_mask = None
        else:
            pos = (pad_mask.long().cumsum(1) - 1).clamp(min=0)
            causal = torch.ones(T, T, dtype=torch.bool, device=idx.device).tril()
            # a query may look at earlier real tokens; pad queries look at themselves (no NaNs)
            attn_mask = causal & pad_mask[:, None, :]
            attn_mask = attn_mask | torch.eye(T, dtype=torch.bool, device=idx.device)
            attn_mask = attn_mask[:, None, :, :]
        x = self.wte(idx) + self.wpe(pos)
        for block in self.blocks:
            x = block(x, attn_mask)
        return F.linear(self.ln_f(x), self.wte.weight)

    def flops_per_token(self) -> int:
        """Training FLOPs per token, 6N for the weights plus the attention scores (nanoGPT's
        estimate_mfu uses the same accounting)."""
        c = self.cfg
        return 6 * self.get_num_params(True) + 12 * c.n_layer * c.d_model * c.block_size
