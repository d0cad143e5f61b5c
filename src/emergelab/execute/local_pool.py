"""The default backend: members side by side on this machine, one worker process per member
(train, evaluate, exit), `workers` of them at once with `threads` intra-op threads each.

Why: a suite run in one process keeps growing. Every training batch has its own padded shape and
every evaluation its own generation lengths, and glibc's heap keeps the freed blocks of odd sizes
even after `malloc_trim`: the full preset reached 4.5 GB in one process although its largest member
needs under 2 GB alone. A process that exits hands all of it back, so the peak is the largest
member's, whatever ran before it.

Workers fork from a server process that has already imported torch and emergelab (the
`forkserver` start method), so starting one costs milliseconds rather than an import; where
there is no forkserver (Windows) they are spawned. A worker rebuilds the member's tasks and
mixture from the config (deterministic), so results are identical to an in-process run.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import pickle
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import UserError

if TYPE_CHECKING:  # the member module imports torch: only workers need it
    from .member import LadderJob


# imported once, in the server, rather than by every worker: torch and our pipeline, plus what
# training and writing results import lazily (torch._dynamo via the optimizer: ~0.8 s a worker)
PRELOAD = ["emergelab.execute.member", "emergelab.experiment", "torch._dynamo",
           "pyarrow.pandas_compat"]


def _context():
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return mp.get_context("spawn")


class MemberWorker:
    """One member of cfg's ladder training and evaluating in its own worker process."""

    def __init__(self, job: LadderJob, index: int) -> None:
        ctx = _context()
        self.model_id = job.unit_name(index)
        self._progress = ctx.Value("q", 0, lock=False)
        self._receive, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_worker, name=f"emergelab-{self.model_id}",
                                 args=(job, index, self._progress, send))
        self._proc.start()
        send.close()
        self._reply = None
        self._finished = False

    @property
    def progress(self) -> int:
        """Training steps done, then one more per evaluated checkpoint."""
        return self._progress.value

    def finished(self) -> bool:
        """Whether the worker has answered or died (never blocks)."""
        if not self._finished and self._receive.poll(0):  # a reply, or EOF from a dead worker
            try:
                self._reply = self._receive.recv()
            except EOFError:
                pass
            self._finished = True
        return self._finished

    def result(self) -> tuple[int | None, float]:
        """(step stopped on alert or None, seconds the monitor spent probing), once finished.
        The worker's exception is re-raised here; a worker that died (killed, out of memory) is
        a one-line error: everything it checkpointed is kept and a rerun resumes."""
        self._proc.join()
        self._receive.close()
        if self._reply is None:
            code = self._proc.exitcode
            how = (f"killed by {signal.Signals(-code).name}" if code is not None and code < 0
                   else f"exit code {code}")
            raise UserError(f"{self.model_id}: its worker process died ({how}); rerun the same "
                            "command to resume from its last checkpoint")
        kind, value, extra = self._reply
        if kind == "error":
            if not isinstance(value, UserError):
                value.add_note(f"in the worker process for {self.model_id}:\n{extra}")
            raise value
        return value, extra

    def stop(self) -> None:
        """End the worker now (Ctrl-C, or another member failed): it must not outlive the run."""
        if self._proc.is_alive():
            self._proc.terminate()
        self._proc.join()
        self._receive.close()


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def check_counts(workers: int | None, threads: int | None) -> None:
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be at least 1, not {workers}")
    if threads is not None and threads < 1:
        raise UserError(f"--threads must be at least 1, not {threads}")


# A worker process holds Python, torch and the task world before any model: 0.48-0.58 GB RSS
# measured per worker in a 3-seed recipe study on a 2-core EPYC (top, while training)
WORKER_BASE_BYTES = int(0.6 * 2**30)
MEMORY_SHARE = 0.8  # of the available memory the default may plan for


def available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes; None where there is no such file."""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def member_peak_bytes(config, batch_size: int) -> int:
    """An upper estimate of one training member's memory: the worker's base, 16 bytes a
    parameter (fp32 weights, gradients, two AdamW moments) and the activations backward keeps
    (about 16 floats per layer, row, position and channel, attention scores per head, logits)."""
    c = config
    params = c.params_nonembed() + (c.vocab_size + c.block_size) * c.d_model
    rows = batch_size * c.block_size
    acts = rows * (16 * c.d_model * c.n_layer + c.n_head * c.block_size * c.n_layer
                   + 3 * c.vocab_size)
    return WORKER_BASE_BYTES + 16 * params + 4 * acts


def plan_workers(n_members: int, workers: int | None, threads: int | None,
                 member_bytes: int | None = None) -> tuple[int, int]:
    """(members at once, intra-op threads each). Defaults fill the cores: as many members side by
    side as there are cores (small members are bound by per-op overhead, not arithmetic, so a
    second thread hardly helps them while a second member doubles the work done), and the cores
    shared out among them; and no more members than MEMORY_SHARE of the available memory holds
    at member_bytes each."""
    check_counts(workers, threads)
    cores = available_cores()
    if workers is None:
        workers = max(1, min(n_members, cores // (threads or 1)))
        free = available_memory()
        if member_bytes and free:
            workers = max(1, min(workers, int(MEMORY_SHARE * free // member_bytes)))
    return workers, threads or max(1, cores // workers)


@dataclass
class LocalPool:
    """Members side by side in worker processes on this machine (the default backend)."""

    workers: int | None = None
    threads: int | None = None
    name = "local"

    def check(self) -> None:
        check_counts(self.workers, self.threads)

    def plan(self, n_members: int, recorded_threads: int | None,
             member_bytes: int | None = None) -> int:
        chosen = self.workers is None
        self.workers, threads = plan_workers(n_members, self.workers,
                                             self.threads or recorded_threads, member_bytes)
        free = available_memory()
        self.memory_note = (f"; {free / 2**30:.1f} GiB available, ~{member_bytes / 2**30:.2f} GiB "
                            "a member (estimated)" if chosen and member_bytes and free else "")
        return threads

    def describe(self) -> str:
        return f"{self.workers} at once{getattr(self, 'memory_note', '')}"

    def run(self, job: LadderJob, order: list[int],
            on_progress: Callable[[dict[str, int]], None]) -> tuple[tuple[str, int] | None, float]:
        """Train and evaluate the members `order` (indices into job's ladder, started in that
        order). on_progress gets {model_id: progress} of the members started so far. Returns the
        first (model_id, step) a monitor alert stopped training at (then no new member starts)
        or None, and the seconds the monitor spent probing. Any error or a dead worker stops the
        others."""
        todo = list(order)
        running: list[MemberWorker] = []
        done: dict[str, int] = {}
        seconds = 0.0
        stopped = None
        try:
            while todo or running:
                while todo and len(running) < self.workers and stopped is None:
                    running.append(MemberWorker(job, todo.pop(0)))
                if stopped is not None and not running:
                    break
                for w in [w for w in running if w.finished()]:
                    running.remove(w)
                    step, spent = w.result()
                    seconds += spent
                    done[w.model_id] = w.progress
                    if step is not None and stopped is None:
                        stopped = (w.model_id, step)
                if stopped is not None:
                    todo.clear()
                on_progress({**done, **{w.model_id: w.progress for w in running}})
                time.sleep(0.1)
        finally:
            for w in running:  # an error, Ctrl-C or a dead worker: nothing may train on
                w.stop()
        return stopped, seconds


def _worker(job: LadderJob, index: int, progress, send) -> None:
    _release_forkserver()
    _die_with_parent()
    try:
        def report(n: int) -> None:
            progress.value = n

        stopped, spent = job.run_unit(index, report)
        send.send(("ok", stopped, spent))
    except BaseException as err:  # noqa: BLE001 - everything goes back to the parent
        send.send(("error", _portable(err), traceback.format_exc()))
    finally:
        send.close()


def _portable(err: BaseException) -> BaseException:
    """err itself when it survives pickling, else a RuntimeError that says what it was."""
    try:
        return pickle.loads(pickle.dumps(err))
    except Exception:  # noqa: BLE001 - any unpicklable exception
        return RuntimeError(f"{type(err).__name__}: {err}")


def _release_forkserver() -> None:
    """A forkserver child inherits the write end of the server's 'alive' pipe (CPython keeps it
    so a child could start processes of its own). While a worker holds it, the server never sees
    the run go away, so it never exits, and the worker's PR_SET_PDEATHSIG never fires: a killed
    run would leave the worker training. Workers start no processes: close it."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is None:
        return
    try:
        os.close(fd)
    except OSError:
        pass
    server._forkserver_alive_fd = None


def _die_with_parent() -> None:
    """On Linux, have the kernel kill this worker when its parent goes, so a killed run leaves no
    orphan training on beside the rerun that resumes it."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
