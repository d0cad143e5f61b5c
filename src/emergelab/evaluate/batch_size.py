"""`eval --batch-size auto`: the largest batch that fits, found once per model.

Scores do not depend on the batch size (tested), so any size that fits gives the same numbers;
a larger one only runs faster. Starting from MAX_AUTO, the longest sequence the evaluation will
run is scored as a full batch; on an out-of-memory error the size halves. On a CPU with enough
memory the first try fits.
"""

from __future__ import annotations

import torch

from ..errors import UserError

MAX_AUTO = 512


def _is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err).lower()


def largest_fitting(try_batch, start: int = MAX_AUTO) -> int:
    """The largest power-of-two fraction of start for which try_batch(size) runs."""
    size = start
    while size >= 1:
        try:
            try_batch(size)
            return size
        except (RuntimeError, MemoryError) as err:
            if not _is_oom(err) and not isinstance(err, MemoryError):
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            size //= 2
    raise UserError("--batch-size auto: not even one example fits in memory")


def auto_batch_size(scorer, eval_tasks) -> int:
    """Probe scorer with its evaluation's longest example, repeated, at shrinking sizes."""
    from ..tasks import Example

    longest = max((e for et in eval_tasks for e in et.examples),
                  key=lambda e: len(e.prompt) + max([len(e.target)] + [len(c) for c in e.choices]))
    target = max([longest.target] + list(longest.choices), key=len)
    probe = Example(longest.prompt, target, target)

    def try_batch(size: int) -> None:
        scorer.batch_size = size
        scorer.teacher_forced([probe] * size)

    return largest_fitting(try_batch)
