"""Members as tasks on a Ray cluster: `emergelab run ... --backend ray [--address ADDR]`.

Each member is one Ray task asking for `threads` CPUs. Ray retries a task whose worker process or
node dies (up to `retries` times); the retried member resumes from its last checkpoint, because
training always resumes from the run directory's train_state. Results and samples partitions are
committed exactly once (store.write_partition links each partition, keyed by run directory,
member and step, to its name only if no copy is there), so a retry or a duplicate completion
never adds rows. The run directory must therefore be storage every node sees (NFS or the like);
a worker that cannot see or write it fails with one line, and is not retried.

Ray has no authentication of its own: whoever reaches the cluster's port runs code on it. Keep
clusters on a trusted network.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserError
from .local_pool import available_cores, check_counts

if TYPE_CHECKING:  # the member module imports torch: only workers need it
    from .member import LadderJob

REPORT_EVERY_S = 0.5  # progress messages from a member to the driver: at most this often


def _ray():
    try:
        import ray
    except ImportError:
        raise UserError("--backend ray needs Ray: pip install -e '.[ray]'") from None
    return ray


def _address(given: str | None) -> str | None:
    """--address, else $RAY_ADDRESS, else None (a local Ray for the run)."""
    return given or os.environ.get("RAY_ADDRESS") or None


def _reachable(address: str | None, timeout: float = 5.0) -> None:
    """One line now, rather than Ray's minute of retries, for an address nobody answers at
    ('auto' and Ray Client addresses are Ray's own to resolve)."""
    if address is None or address == "auto" or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--address {address!r}: expected HOST:PORT of a Ray head node "
                        "(as `ray start --head` prints), or 'auto'")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as err:
        raise UserError(f"cannot reach a Ray cluster at {address}: "
                        f"{err.strerror or err}") from None


def connect(address: str | None) -> bool:
    """Join the cluster at address (or $RAY_ADDRESS); without either, start a local Ray for this
    run on this machine's cores. Returns whether this call connected (and so must disconnect)."""
    ray = _ray()
    if ray.is_initialized():
        return False
    address = _address(address)
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address is None:
        ray.init(num_cpus=available_cores(), include_dashboard=False, **quiet)
        return True
    _reachable(address)
    try:
        ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise UserError(f"cannot connect to Ray at {address}: {str(err).splitlines()[0]}") \
            from None
    return True


class _Tracker:
    """A small actor on the driver's node holding every member's progress for the bar."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def report(self, model_id: str, n: int) -> None:
        self.counts[model_id] = max(n, self.counts.get(model_id, 0))

    def get(self) -> dict[str, int]:
        return self.counts


def check_run_dir(out: Path) -> None:
    """In the worker: the run directory must be the driver's (shared storage) and writable."""
    node = socket.gethostname()
    if not (out / "config.toml").is_file():
        raise UserError(f"a Ray worker on {node} cannot see the run directory {out}: put it on "
                        "storage every node mounts at the same path")
    if not os.access(out, os.W_OK | os.X_OK):
        raise UserError(f"a Ray worker on {node} cannot write to the run directory {out}")


def member_task(job: LadderJob, index: int, tracker) -> tuple[int | None, float]:
    """One member (or seed group) on whichever node Ray chose (a retry resumes from the last
    checkpoint)."""
    check_run_dir(job.out)
    mid = job.unit_name(index)
    last = [0.0]

    def report(n: int) -> None:
        now = time.monotonic()
        if now - last[0] >= REPORT_EVERY_S or n >= job.unit_steps(index):
            last[0] = now
            try:
                tracker.report.remote(mid, n)
            except Exception:  # noqa: BLE001 - progress is cosmetic; training goes on
                pass

    return job.run_unit(index, report)


@dataclass
class RayCluster:
    """Members as Ray tasks, each with `threads` CPUs, retried up to `retries` times."""

    address: str | None = None
    threads: int | None = None
    retries: int = 3
    name = "ray"

    def check(self) -> None:
        """Before anything is written: Ray installed, the counts sane, the address answering."""
        check_counts(None, self.threads)
        if self.retries < 0:
            raise UserError(f"--retries must be at least 0, not {self.retries}")
        _ray()
        _reachable(_address(self.address))

    def plan(self, n_members: int, recorded_threads: int | None,
             member_bytes: int | None = None) -> int:
        return self.threads or recorded_threads or 1

    def describe(self) -> str:
        return f"Ray tasks ({_address(self.address) or 'local Ray'})"

    def run(self, job: LadderJob, order: list[int],
            on_progress: Callable[[dict[str, int]], None]) -> tuple[tuple[str, int] | None, float]:
        ray = _ray()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        connected = connect(self.address)
        try:
            # on the driver's own node: it must outlive any worker node that goes away
            here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(),
                                                  soft=False)
            tracker = ray.remote(num_cpus=0)(_Tracker).options(scheduling_strategy=here).remote()
            task = ray.remote(member_task)
            pending = {task.options(num_cpus=job.threads, max_retries=self.retries,
                                    retry_exceptions=False,
                                    name=f"emergelab {job.unit_name(i)}").remote(job, i, tracker): i
                       for i in order}
            return self._wait(ray, job, pending, tracker, on_progress)
        finally:
            if connected:
                ray.shutdown()

    def _wait(self, ray, job, pending, tracker, on_progress):
        from ray.exceptions import RayError, RayTaskError, TaskCancelledError

        stopped, seconds, counts = None, 0.0, {}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.2)
                for ref in ready:
                    i = pending.pop(ref)
                    mid = job.unit_name(i)
                    try:
                        step, spent = ray.get(ref)
                    except RayTaskError as err:
                        cause = err.cause if isinstance(err.cause, BaseException) else None
                        if isinstance(cause, UserError):
                            raise cause from None
                        raise RuntimeError(f"{mid} failed on a Ray worker:\n{err}") from None
                    except TaskCancelledError:
                        continue
                    except RayError as err:  # its worker or node died more often than retried
                        raise UserError(
                            f"{mid}: its Ray worker died and {self.retries} retries did not save "
                            f"it ({type(err).__name__}); rerun the same command to resume from "
                            "its last checkpoint") from None
                    seconds += spent
                    if step is not None and stopped is None:
                        # a monitor alert: members already running finish; nothing else starts
                        stopped = (mid, step)
                        for r, j in list(pending.items()):
                            if job.unit_name(j) not in counts:  # not begun: never will
                                ray.cancel(r)
                                pending.pop(r)
                try:
                    counts = ray.get(tracker.get.remote(), timeout=5)
                    on_progress(counts)
                except RayError:
                    pass
        finally:
            for ref in pending:  # an error or Ctrl-C: nothing may train on
                ray.cancel(ref, force=True)
        return stopped, seconds

