"""A GPT-style decoder in one file: pre-norm blocks, causal scaled-dot-product attention, GELU MLP,
learned positions, output head tied to the token embedding.

Batches may be left-padded: `forward` takes a key-padding mask and derives each row's positions
from it, so a prompt gets the same logits whatever else shares its batch. `decode` is the same
computation for generation, keeping each layer's keys and values (a KV cache) so a new token costs
one position instead of the whole sequence again.
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


class LayerCache:
    """One layer's keys and values (B, H, T, head_dim) of the positions decoded so far."""

    def __init__(self) -> None:
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    def extend(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.k is not None:
            k, v = torch.cat([self.k, k], dim=2), torch.cat([self.v, v], dim=2)
        self.k, self.v = k, v
        return k, v


class SelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.kernel = "auto"  # "sdpa", "matmul" or "auto"; a speed choice, never a result change

    def forward(self, x: torch.Tensor, shapes: list[tuple[int, int]],
                mask: torch.Tensor | None, cache: LayerCache | None = None) -> torch.Tensor:
        """x: (N, C), the tokens of one or more (B, T) batches packed one after another. cache
        (one batch only): the keys and values of earlier positions, extended with these."""
        C = x.shape[-1]
        H = self.n_head
        qkv = self.qkv(x)
        chunks = qkv.split([B * T for B, T in shapes]) if len(shapes) > 1 else [qkv]
        out = []
        for (B, T), chunk in zip(shapes, chunks):
            q, k, v = chunk.view(B, T, 3, H, C // H).permute(2, 0, 3, 1, 4)
            if cache is not None:
                k, v = cache.extend(k, v)
            out.append(self._attend(q, k, v, mask).transpose(1, 2).reshape(B * T, C))
        return self.proj(out[0] if len(out) == 1 else torch.cat(out))

    def _attend(self, q, k, v, mask: torch.Tensor | None) -> torch.Tensor:
        kernel = self.kernel
        if kernel == "auto":
            # PyTorch's CPU flash-attention backward is ~3x slower in bf16 than fp32 at our short
            # sequences and small heads; plain matmul attention lets bf16 use its matmul units
            kernel = "matmul" if q.dtype == torch.bfloat16 else "sdpa"
        if kernel == "matmul":
            return _matmul_attention(q, k, v, mask)
        if mask is None:
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def _padded_positions(pad_mask: torch.Tensor, n_new: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions and attention mask (B, 1, n_new, T) of the last n_new of a left-padded batch's
    T positions: a query may look at earlier real tokens; pad queries look at themselves (no
    NaNs). A row's positions count its real tokens, so padding never shifts them."""
    T = pad_mask.shape[1]
    pos = (pad_mask.long().cumsum(1) - 1).clamp(min=0)[:, T - n_new:]
    ones = torch.ones(T, T, dtype=torch.bool, device=pad_mask.device)
    mask = (ones.tril() & pad_mask[:, None, :]) | torch.eye(T, dtype=torch.bool,
                                                              device=pad_mask.device)
    return pos, mask[:, None, T - n_new:, :]


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

    def forward(self, x: torch.Tensor, shapes: list[tuple[int, int]],
                mask: torch.Tensor | None, cache: LayerCache | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), shapes, mask, cache)
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

    def set_attention_kernel(self, kernel: str) -> None:
        """"sdpa" (PyTorch's fused attention), "matmul" (explicit softmax(QK^T)V) or "auto"."""
        if kernel not in ("auto", "sdpa", "matmul"):
            raise ValueError(f"unknown attention kernel {kernel!r}")
        for block in self.blocks:
            block.attn.kernel = kernel

    def forward(self, idx: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits for every position. pad_mask (B, T) is True on real tokens; padding must be on
        the left (used for generation); None means no padding."""
        B, T = idx.shape
        self._check_length(T)
        if pad_mask is None:
            pos = torch.arange(T, device=idx.device).expand(B, T)
            attn_mask = None
        else:
            pos, attn_mask = _padded_positions(pad_mask, T)
        x = (self.wte(idx) + self.wpe(pos)).view(B * T, -1)
        for block in self.blocks:
            x = block(x, [(B, T)], attn_mask)
        return F.linear(self.ln_f(x), self.wte.weight).view(B, T, -1)

    def new_cache(self) -> list[LayerCache]:
        return [LayerCache() for _ in self.blocks]

    def decode(self, idx: torch.Tensor, pad_mask: torch.Tensor,
               cache: list[LayerCache]) -> torch.Tensor:
        """Logits of the last position after the new tokens idx (B, T_new): first the prompts,
        then one generated token at a time. pad_mask (B, T) covers every position so far, these
        included (left padding, as in forward); cache (new_cache()) carries the earlier ones'
        keys and values. Same values as forward() on the whole sequence, last position."""
        B, T_new = idx.shape
        T = pad_mask.shape[1]
        self._check_length(T)
        pos, attn_mask = _padded_positions(pad_mask, T_new)
        x = (self.wte(idx) + self.wpe(pos)).view(B * T_new, -1)
        for block, layer_cache in zip(self.blocks, cache):
            x = block(x, [(B, T_new)], attn_mask, layer_cache)
        return F.linear(self.ln_f(x.view(B, T_new, -1)[:, -1]), self.wte.weight)

    def forward_packed(self, batches: list[torch.Tensor], select: torch.Tensor) -> torch.Tensor:
        """Logits at the selected positions of several right-padded (B, T) batches of different
        lengths, computed together: the position-wise layers run once over all their tokens and
        attention once per batch. select (bool, the batches' positions flattened one after
        another) names the positions wanted (training scores answer tokens only), so the
        output head skips the rest. Same values as forward() on each batch, selected."""
        shapes = [tuple(b.shape) for b in batches]
        for _, T in shapes:
            self._check_length(T)
        x = torch.cat([(self.wte(b) + self.wpe.weight[:b.shape[1]]).view(-1, self.cfg.d_model)
                       for b in batches])
        for block in self.blocks:
            x = block(x, shapes, None)
        return F.linear(self.ln_f(x[select]), self.wte.weight)

    def _check_length(self, T: int) -> None:
        if T > self.cfg.block_size:
            raise ValueError(f"sequence of {T} tokens exceeds block_size {self.cfg.block_size}")

    def flops_per_token(self) -> int:
        """Training FLOPs per token, 6N for the weights plus the attention scores (nanoGPT's
        estimate_mfu uses the same accounting)."""
        c = self.cfg
        return 6 * self.get_num_params(True) + 12 * c.n_layer * c.d_model * c.block_size
