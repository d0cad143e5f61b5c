"""The size ladder: one dial (d_model) sets every member's shape.

Depth grows with width up to a cap, and heads are `head_dim` wide, as in nanochat where one depth
dial sets everything. Explicit `n_layer` values override the rule (for 1-layer ablations).
"""

from __future__ import annotations

from dataclasses import dataclass

from .gpt import GPTConfig


def shape_for(d_model: int, head_dim: int = 16, max_layers: int = 4,
              n_layer: int | None = None) -> tuple[int, int, int]:
    """(n_layer, d_model, n_head) for a width: 2 layers up to d=32, then one more per doubling."""
    if n_layer is None:
        n_layer = 2
        w = 32
        while d_model > w and n_layer < max_layers:
            n_layer += 1
            w *= 2
    n_head = max(1, d_model // head_dim)
    while d_model % n_head:
        n_head -= 1
    return n_layer, d_model, n_head


@dataclass(frozen=True)
class Member:
    """One ladder member: a shape and a training seed. The seed sets the initialisation and the
    data order; a ladder that varies only one of them (ladder.vary) gives the other the ladder's
    first seed, as PolyPythias varies them apart."""

    model_id: str
    seed: int
    config: GPTConfig
    init_seed: int | None = None
    data_seed: int | None = None

    @property
    def shape(self) -> str:
        """The model_id without its seed ("L2-d8"): members of one shape differ only in seed."""
        return self.model_id.rsplit("-s", 1)[0]

    def __post_init__(self) -> None:
        if self.init_seed is None:
            object.__setattr__(self, "init_seed", self.seed)
        if self.data_seed is None:
            object.__setattr__(self, "data_seed", self.seed)


def build_ladder(d_models: list[int], seeds: list[int], vocab_size: int, block_size: int,
                 head_dim: int = 16, max_layers: int = 4,
                 n_layers: list[int] | None = None, vary: str = "both") -> list[Member]:
    """Every width with every seed. vary: what a seed changes — "both" (initialisation and data
    order), "init" or "data" (the other fixed at the first seed's)."""
    members = []
    for i, d in enumerate(d_models):
        n_layer, d_model, n_head = shape_for(d, head_dim, max_layers,
                                             n_layers[i] if n_layers else None)
        cfg = GPTConfig(vocab_size=vocab_size, block_size=block_size,
                        n_layer=n_layer, n_head=n_head, d_model=d_model)
        for s in seeds:
            members.append(Member(f"L{n_layer}-d{d_model}-s{s}", s, cfg,
                                  s if vary in ("both", "init") else seeds[0],
                                  s if vary in ("both", "data") else seeds[0]))
    return members
