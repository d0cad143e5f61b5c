"""Members one after another in this process: for a debugger, and the reference the other
backends are tested against (same threads, same numbers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .local_pool import available_cores, check_counts

if TYPE_CHECKING:  # the member module imports torch: only workers need it
    from .member import LadderJob


@dataclass
class InProcess:
    threads: int | None = None
    name = "in-process"

    def check(self) -> None:
        check_counts(None, self.threads)

    def plan(self, n_members: int, recorded_threads: int | None,
             member_bytes: int | None = None) -> int:
        return self.threads or recorded_threads or available_cores()

    def describe(self) -> str:
        return "one at a time in this process"

    def run(self, job: LadderJob, order: list[int],
            on_progress: Callable[[dict[str, int]], None]) -> tuple[tuple[str, int] | None, float]:
        from ..experiment import setup
        prepared = setup(job.cfg)
        counts: dict[str, int] = {}
        for i in order:
            mid = job.unit_name(i)

            def one(n: int, mid=mid) -> None:
                counts[mid] = n
                on_progress(counts)

            step, _ = job.run_unit(i, one, prepared)  # the monitor is this process's own
            counts[mid] = job.unit_steps(i)
            if step is not None:
                return (mid, step), 0.0
        return None, 0.0
