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


def run_member_in_process(cfg, out: Path, index: int, model_id: str, monitor,
                          on_progress: Callable[[int], None]) -> tuple[int | None, float]:
    """Train and evaluate member `index` of cfg's ladder in a worker process, relaying its
    progress count to on_progress. Returns (step stopped on alert or None, seconds the monitor
    spent probing). The worker's exception is re-raised here; a worker that dies (killed, out of
    memory) is a one-line error: everything it checkpointed is kept and a rerun resumes."""
    ctx = _context()
    progress = ctx.Value("q", 0, lock=False)
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker, args=(cfg, str(out), index, monitor, progress, send),
                       name=f"emergelab-{model_id}")
    proc.start()
    send.close()
    reply = None
    try:
        while True:
            if receive.poll(0.25):
                try:
                    reply = receive.recv()
                except EOFError:  # the worker died before it could answer
                    pass
                break
            if not proc.is_alive() and not receive.poll(0):
                break
            on_progress(progress.value)
        proc.join()
    except BaseException:  # Ctrl-C or an error here: the worker must not outlive us
        proc.terminate()
        proc.join()
        raise
    finally:
        receive.close()
    on_progress(progress.value)
    if reply is None:
        code = proc.exitcode
        how = (f"killed by {signal.Signals(-code).name}" if code is not None and code < 0
               else f"exit code {code}")
        raise UserError(f"{model_id}: its worker process died ({how}); rerun the same command "
                        "to resume from its last checkpoint")
    kind, value, extra = reply
    if kind == "error":
        if not isinstance(value, UserError):
            value.add_note(f"in the worker process for {model_id}:\n{extra}")
        raise value
    return value, extra


def _worker(cfg, out: str, index: int, monitor, progress, send) -> None:
    _release_forkserver()
    _die_with_parent()
    try:
        from .pipeline import logging_to, setup, train_and_evaluate

        run_dir = Path(out)
        with logging_to(run_dir):
            eval_tasks, mixture, members = setup(cfg)

            def report(n: int) -> None:
                progress.value = n

            stopped = train_and_evaluate(cfg, run_dir, members[index], eval_tasks, mixture,
                                         monitor, report)
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
