"""One ladder member per worker process: train, evaluate, exit.

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
from pathlib import Path

from .errors import UserError


# imported once, in the server, rather than by every worker: torch and our pipeline, plus what
# training and writing results import lazily (torch._dynamo via the optimizer: ~0.8 s a worker)
PRELOAD = ["emergelab.pipeline", "torch._dynamo", "pyarrow.pandas_compat"]


def _context():
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return mp.get_context("spawn")


class MemberWorker:
    """One member of cfg's ladder training and evaluating in its own worker process."""

    def __init__(self, cfg, out: Path, index: int, model_id: str, monitor=None, kernels=None,
                 threads: int | None = None) -> None:
        ctx = _context()
        self.model_id = model_id
        self._progress = ctx.Value("q", 0, lock=False)
        self._receive, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_worker, name=f"emergelab-{model_id}",
                                 args=(cfg, str(out), index, monitor, self._progress, send,
                                       kernels, threads))
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


def run_members(cfg, out: Path, order: list[int], model_ids: list[str], kernels: list,
                workers: int, threads: int, monitor,
                on_progress: Callable[[dict[str, int]], None]) -> tuple[tuple[str, int] | None, float]:
    """Train and evaluate the members `order` (indices into cfg's ladder, started in that order)
    with up to `workers` worker processes at once, each with `threads` intra-op threads.
    on_progress gets {model_id: progress} of the members started so far. Returns the first
    (model_id, step) a monitor alert stopped training at (then no new member starts) or None,
    and the seconds the monitor spent probing. Any error or a dead worker stops the others."""
    todo = list(order)
    running: list[MemberWorker] = []
    done: dict[str, int] = {}
    seconds = 0.0
    stopped = None
    try:
        while todo or running:
            while todo and len(running) < workers and stopped is None:
                i = todo.pop(0)
                running.append(MemberWorker(cfg, out, i, model_ids[i], monitor, kernels[i],
                                            threads))
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


def _worker(cfg, out: str, index: int, monitor, progress, send, kernels, threads) -> None:
    _release_forkserver()
    _die_with_parent()
    try:
        if threads:
            import torch

            torch.set_num_threads(threads)
        from .pipeline import logging_to, setup, train_and_evaluate

        run_dir = Path(out)
        with logging_to(run_dir):
            eval_tasks, mixture, members = setup(cfg)

            def report(n: int) -> None:
                progress.value = n

            stopped = train_and_evaluate(cfg, run_dir, members[index], eval_tasks, mixture,
                                         monitor, report, kernels)
        send.send(("ok", stopped, monitor.seconds if monitor is not None else 0.0))
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
