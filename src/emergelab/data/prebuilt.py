"""Training batches built once per run and shared by the members that train on them.

Batch s of a mixture is a pure function of (mixture seed, s), so every member of a ladder with the
same seed trains on the same batches. Building one is Python work (sampling examples, tokenising,
padding: ~2 ms for quick's 256 rows, 15-20% of a small member's step), which each member used to
repeat. A run builds them once, before its members start, and stores the token ids (one byte each:
the character vocabulary has 99) and loss masks under RUN/batches/; members memory-map them, so
workers side by side share the pages too. The stored batches are the mixture's batches exactly.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from ..store import write_atomic
from .mixture import Batch, Mixture, Rows

# one row per task group of a batch: step, rows, length, offset into tokens, offset into masks
INDEX = "index.npy"


def batches_dir(out: Path, mixture_seed: int, batch_size: int, steps: int) -> Path:
    return Path(out) / "batches" / f"seed{mixture_seed}-b{batch_size}-s{steps}"


def build(mixture: Mixture, steps: int, batch_size: int, directory: Path) -> None:
    """Write batches 0..steps-1 of mixture to directory, unless a complete copy is there. The
    index is written last: its presence marks the copy complete (a killed build is redone)."""
    directory = Path(directory)
    if (directory / INDEX).exists():
        return
    if mixture.tok.vocab_size > 256:
        raise ValueError("token ids must fit in a byte to be prebuilt")
    tokens, masks, index = [], [], []
    n_tok = n_mask = 0
    for step in range(steps):
        for rows in mixture.batch(step, batch_size):
            full = torch.cat([rows.idx, rows.targets[:, -1:]], dim=1).numpy().astype(np.uint8)
            mask = rows.mask.numpy()
            index.append((step, *rows.idx.shape, n_tok, n_mask))
            tokens.append(full.ravel())
            masks.append(mask.ravel())
            n_tok, n_mask = n_tok + full.size, n_mask + mask.size
    directory.mkdir(parents=True, exist_ok=True)
    _save(directory / "tokens.npy", np.concatenate(tokens))
    _save(directory / "masks.npy", np.concatenate(masks))
    _save(directory / INDEX, np.array(index, dtype=np.int64).reshape(-1, 5))


def _save(path: Path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array)
    write_atomic(path, buf.getvalue())


class PrebuiltBatches:
    """The batches a run built (build()), memory-mapped; batch(s) is mixture.packed_batch(s)."""

    def __init__(self, directory: Path, pad_id: int) -> None:
        directory = Path(directory)
        self.pad_id = pad_id
        self._tokens = np.load(directory / "tokens.npy", mmap_mode="r")
        self._masks = np.load(directory / "masks.npy", mmap_mode="r")
        index = np.load(directory / INDEX)
        self._groups: list[list[tuple[int, int, int, int]]] = [[] for _ in range(
            int(index[:, 0].max()) + 1 if len(index) else 0)]
        for step, b, t, tok, msk in index.tolist():
            self._groups[step].append((b, t, tok, msk))

    @classmethod
    def open(cls, directory: Path, pad_id: int) -> PrebuiltBatches | None:
        """The batches in directory, or None when no complete copy is there."""
        return cls(directory, pad_id) if (Path(directory) / INDEX).exists() else None

    def __len__(self) -> int:
        return len(self._groups)

    def batch(self, step: int) -> Batch:
        groups = []
        for b, t, tok, msk in self._groups[step]:
            full = torch.from_numpy(self._tokens[tok:tok + b * (t + 1)].reshape(b, t + 1)
                                    .astype(np.int64))
            mask = torch.from_numpy(self._masks[msk:msk + b * t].reshape(b, t).copy())
            groups.append(Rows(full[:, :-1].contiguous(), full[:, 1:].contiguous(), mask))
        return Batch.of(groups, self.pad_id)
