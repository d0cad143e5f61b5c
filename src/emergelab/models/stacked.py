"""Several training seeds of one GPT shape as one model: every weight gets a leading seed
dimension, and each layer runs all seeds in one batched op (bmm) instead of one small op per seed.

Why: the small members of a ladder are bound by per-op overhead (a d_model-8 step is ~40 MFLOP in
~9 ms), so k seeds trained apart cost k times one, while k seeds stacked cost little more than one.
The seeds never mix: seed s's logits depend only on seed s's weights and tokens, so its gradients
are those it would get alone (up to floating-point rounding of the other op shapes).

Batches: each seed has its own data order, so its batch has its own task groups of their own
sizes. Group j of every seed is padded to the largest rows and length among the seeds (pad tokens,
untrained), which changes no real position's logits: attention is causal and rows are
right-padded, and padded rows are never scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .gpt import GPT, GPTConfig, _matmul_attention


@dataclass
class StackedBatch:
    """One training batch of every seed in the stacked layout."""

    groups: list[torch.Tensor]  # per task group: (S, B, T) token ids, padded across seeds
    select: torch.Tensor        # (S, M) flat positions (into the packed S x N tokens) to score
    targets: torch.Tensor       # (S, M) their target ids; -100 where a seed has fewer than M
    counts: torch.Tensor        # (S,) targets per seed
    tokens: list[int]           # real (non-pad) input tokens per seed

    @classmethod
    def of(cls, batches: list, pad_id: int) -> StackedBatch:
        """Stack one Batch (data/mixture.py) per seed."""
        S = len(batches)
        n_groups = max(len(b.groups) for b in batches)
        groups, sel, tgt = [], [[] for _ in range(S)], [[] for _ in range(S)]
        offset = 0
        for j in range(n_groups):
            rows = [b.groups[j] if j < len(b.groups) else None for b in batches]
            B = max(r.idx.shape[0] for r in rows if r is not None)
            T = max(r.idx.shape[1] for r in rows if r is not None)
            ids = torch.full((S, B, T), pad_id, dtype=torch.long)
            for s, r in enumerate(rows):
                if r is None:
                    continue
                b, t = r.idx.shape
                ids[s, :b, :t] = r.idx
                # the scored positions of seed s, as flat indices into its packed tokens
                rr, cc = r.mask.nonzero(as_tuple=True)
                sel[s].append(offset + rr * T + cc)
                tgt[s].append(r.targets[rr, cc])
            groups.append(ids)
            offset += B * T
        flat_sel = [torch.cat(x) if x else torch.zeros(0, dtype=torch.long) for x in sel]
        flat_tgt = [torch.cat(x) if x else torch.zeros(0, dtype=torch.long) for x in tgt]
        M = max(len(x) for x in flat_sel)
        select = torch.zeros(S, M, dtype=torch.long)
        targets = torch.full((S, M), -100, dtype=torch.long)
        for s in range(S):
            select[s, :len(flat_sel[s])] = flat_sel[s]
            targets[s, :len(flat_tgt[s])] = flat_tgt[s]
        counts = torch.tensor([len(x) for x in flat_sel])
        return cls(groups, select, targets, counts, [b.tokens for b in batches])


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """(S, N, in) x (S, out, in) + (S, out): each seed's own nn.Linear."""
    return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


def _layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return torch.addcmul(bias.unsqueeze(1), F.layer_norm(x, x.shape[-1:], eps=1e-5),
                         weight.unsqueeze(1))


class StackedGPT(nn.Module):
    """S seeds of one GPT shape, stacked. Parameter names are GPT's; each has a leading seed
    dimension (GPT(cfg).state_dict()[name] == stacked[name][s] for seed s)."""

    def __init__(self, models: list[GPT]) -> None:
        super().__init__()
        self.cfg: GPTConfig = models[0].cfg
        self.n_seeds = len(models)
        self.attention = "sdpa"
        self.names = [n for n, _ in models[0].named_parameters()]
        states = [dict(m.named_parameters()) for m in models]
        self.params = nn.ParameterDict({
            n.replace(".", "__"): nn.Parameter(torch.stack([st[n].detach() for st in states]))
            for n in self.names})

    def p(self, name: str) -> torch.Tensor:
        return self.params[name.replace(".", "__")]

    def named_stacked(self):
        """(GPT parameter name, stacked parameter) in GPT's order."""
        return [(n, self.p(n)) for n in self.names]

    def seed_state(self, s: int) -> dict[str, torch.Tensor]:
        """Seed s's weights as a GPT state dict."""
        return {n: self.p(n)[s].detach().clone() for n in self.names}

    def set_attention_kernel(self, kernel: str) -> None:
        self.attention = "matmul" if kernel == "matmul" else "sdpa"

    def forward(self, batch: StackedBatch) -> torch.Tensor:
        """Logits (S, M, V) at each seed's scored positions (padding positions where a seed has
        fewer than M; their targets are -100)."""
        c = self.cfg
        S, C, H = self.n_seeds, c.d_model, c.n_head
        wte, wpe = self.p("wte.weight"), self.p("wpe.weight")
        offsets = (torch.arange(S) * c.vocab_size).view(S, 1, 1)
        shapes = [tuple(g.shape[1:]) for g in batch.groups]
        parts = []
        for g in batch.groups:
            B, T = g.shape[1:]
            if T > c.block_size:
                raise ValueError(f"sequence of {T} tokens exceeds block_size {c.block_size}")
            emb = F.embedding(g + offsets, wte.reshape(S * c.vocab_size, C))
            parts.append((emb + wpe[:, None, :T]).reshape(S, B * T, C))
        x = torch.cat(parts, dim=1)
        for i in range(c.n_layer):
            def w(name, i=i):
                return self.p(f"blocks.{i}.{name}")

            h = _layer_norm(x, w("ln1.weight"), w("ln1.bias"))
            qkv = _linear(h, w("attn.qkv.weight"), w("attn.qkv.bias"))
            out, start = [], 0
            for B, T in shapes:
                chunk = qkv[:, start:start + B * T]
                start += B * T
                q, k, v = chunk.reshape(S * B, T, 3, H, C // H).permute(2, 0, 3, 1, 4)
                a = (_matmul_attention(q, k, v, None) if self.attention == "matmul"
                     else F.scaled_dot_product_attention(q, k, v, is_causal=True))
                out.append(a.transpose(1, 2).reshape(S, B * T, C))
            x = x + _linear(torch.cat(out, dim=1), w("attn.proj.weight"), w("attn.proj.bias"))
            h = _layer_norm(x, w("ln2.weight"), w("ln2.bias"))
            h = F.gelu(_linear(h, w("fc.weight"), w("fc.bias")))
            x = x + _linear(h, w("out.weight"), w("out.bias"))
        picked = torch.gather(x, 1, batch.select.unsqueeze(-1).expand(-1, -1, C))
        picked = _layer_norm(picked, self.p("ln_f.weight"), self.p("ln_f.bias"))
        return torch.bmm(picked, wte.transpose(1, 2))
