"""One experiment end to end: tasks -> mixture -> ladder -> train -> checkpoints -> evaluate ->
samples + results -> report. Every stage resumes: training from its last checkpoint, evaluation
from the partitions already written.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import __version__
from .config import RunConfig, SuiteConfig, same_config, to_toml
from .data.mixture import Mixture
from .data.tokenizer import CharTokenizer
from .errors import UserError
from .evaluate.runner import EvalTask, evaluate_model
from .evaluate.scoring import CharScorer
from .models.ladder import Member, build_ladder
from .store import write_atomic, write_partition
from .tasks import build_task
from .train.checkpoint import list_checkpoints, load_checkpoint
from .train.kernels import Kernels, choose_kernels, recorded_threads
from .train.loop import train_member
from .train.schedule import checkpoint_steps

log = logging.getLogger("emergelab")


def prepare_out_dir(out: Path, cfg: RunConfig | SuiteConfig) -> None:
    """Create the run dir and its config.toml, or accept it for resuming the same config."""
    text = to_toml(cfg)
    cfg_path = out / "config.toml"
    try:
        if cfg_path.exists():
            if not same_config(cfg_path.read_text(), cfg, str(cfg_path)):
                raise UserError(f"{out} holds a run with a different config; use another --out")
            return
        if out.exists() and not out.is_dir():
            raise UserError(f"--out {out} exists and is not a directory")
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(cfg_path, text)
    except OSError as err:
        raise UserError(f"cannot write to --out {out}: {err.strerror}") from None


def build_eval_tasks(cfg: RunConfig) -> list[EvalTask]:
    out = []
    for t in cfg.tasks:
        task = build_task(t.name, t.variant, **t.options)
        examples = task.eval_set(t.n_eval, cfg.seed)
        out.append(EvalTask(task, examples, task.baselines(examples, cfg.seed)))
    return out


def block_size_for(mixture: Mixture, eval_tasks: list[EvalTask]) -> int:
    longest = max(mixture.max_len(), *(len(e.prompt) + len(e.target) + 4
                                       for et in eval_tasks for e in et.examples))
    return int(2 ** (longest - 1).bit_length())  # round up to a power of two


def ladder_members(cfg: RunConfig, block_size: int) -> list[Member]:
    lc = cfg.ladder
    return build_ladder(lc.d_models, lc.seeds, CharTokenizer().vocab_size, block_size,
                        lc.head_dim, lc.max_layers, lc.n_layers)


def release_memory() -> None:
    """Hand freed heap back to the system. Every batch has its own padded length, so glibc keeps
    freed blocks of odd sizes; members also run in their own processes (member_process.py)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        pass


def evaluate_member(cfg: RunConfig, member: Member, out: Path, eval_tasks: list[EvalTask],
                    on_done=None) -> None:
    ckpts = list_checkpoints(out / "checkpoints" / member.model_id)
    final_step = cfg.train.steps
    if not cfg.eval.every_checkpoint:
        ckpts = [(s, p) for s, p in ckpts if s == final_step]
    for step, path in ckpts:
        name = f"{member.model_id}-step{step:06d}"
        if (out / "results" / f"{name}.parquet").exists():
            if on_done:
                on_done()
            continue
        model, info = load_checkpoint(path)
        samples, results = evaluate_model(CharScorer(model, cfg.eval.batch_size), eval_tasks,
                                          seed=cfg.seed,
                                          n_boot=cfg.eval.bootstrap, level=cfg.eval.level)
        c = model.cfg
        common = {"run_id": cfg.name, "model_id": member.model_id, "step": step}
        extra = []
        for r in results:
            if r["metric"] == "stored_bits":
                extra.append({**r, "metric": "bits_per_param",
                              "value": r["value"] / info["params_nonembed"]})
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        rows = [{**common, "family": cfg.name, "params": info["params"],
                 "params_nonembed": info["params_nonembed"], "n_layer": c.n_layer,
                 "d_model": c.d_model, "n_head": c.n_head, "tokens": info["tokens"],
                 "flops": float(info["flops"]), "val_loss": info["val_loss"],
                 "final_checkpoint": step == final_step, **r, "seed": member.seed,
                 "created_at": now, "version": __version__} for r in results + extra]
        write_partition([{**common, **s} for s in samples], out / "samples", name)
        write_partition(rows, out / "results", name)
        if on_done:
            on_done()


def setup(cfg: RunConfig) -> tuple[list[EvalTask], Mixture, list[Member]]:
    """What every member of cfg's ladder shares: evaluation sets, training mixture, the ladder.
    Deterministic in cfg, so a worker process rebuilds exactly what the parent built."""
    torch.manual_seed(cfg.seed)
    eval_tasks = build_eval_tasks(cfg)
    mixture = Mixture([et.task for et in eval_tasks], [t.weight for t in cfg.tasks], cfg.seed)
    return eval_tasks, mixture, ladder_members(cfg, block_size_for(mixture, eval_tasks))


def train_and_evaluate(cfg: RunConfig, out: Path, member: Member, eval_tasks: list[EvalTask],
                       mixture: Mixture, monitor=None,
                       on_progress: Callable[[int], None] | None = None,
                       kernels: Kernels | None = None) -> int | None:
    """Train one member (resuming) and evaluate its checkpoints. on_progress(n) counts training
    steps, then one more per evaluated checkpoint. Returns the step a monitor alert stopped
    training at, or None."""
    t0 = time.time()
    report = on_progress or (lambda n: None)
    member_mixture = Mixture(mixture.tasks, mixture.weights, cfg.seed * 1000 + member.seed)
    stopped = train_member(member, member_mixture, cfg.train, out / "checkpoints" / member.model_id,
                           on_step=report, monitor=monitor, kernels=kernels)
    if stopped is not None:
        log.info("%s: stopped on alert at step %d", member.model_id, stopped)
        return stopped
    t1 = time.time()
    release_memory()  # the evaluation's shapes differ from training's: start it on a clean heap
    done = cfg.train.steps
    report(done)

    def one_more() -> None:
        nonlocal done
        done += 1
        report(done)

    evaluate_member(cfg, member, out, eval_tasks, on_done=one_more)
    log.info("%s: %d non-embedding params, train %.1fs, eval %.1fs", member.model_id,
             member.config.params_nonembed(), t1 - t0, time.time() - t1)
    return None


@contextlib.contextmanager
def logging_to(out: Path):
    """Send the emergelab log to out/run.log for the duration (appending: resumes keep history)."""
    handler = logging.FileHandler(out / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def plan_workers(n_members: int, workers: int | None, threads: int | None) -> tuple[int, int]:
    """(members at once, intra-op threads each). Defaults fill the cores: as many members side by
    side as there are cores (small members are bound by per-op overhead, not arithmetic, so a
    second thread hardly helps them while a second member doubles the work done), and the cores
    shared out among them."""
    cores = available_cores()
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be at least 1, not {workers}")
    if threads is not None and threads < 1:
        raise UserError(f"--threads must be at least 1, not {threads}")
    workers = workers or max(1, min(n_members, cores // (threads or 1)))
    return workers, threads or max(1, cores // workers)


def run(cfg: RunConfig, out: Path, quiet: bool = False, console: Console | None = None,
        monitor=None, isolate: bool = True, workers: int | None = None,
        threads: int | None = None) -> Path:
    """Train and evaluate the whole ladder of cfg into out; returns out. monitor: a
    CapabilityMonitor watching every member's training (train/monitor.py). isolate: each member
    in its own worker process (member_process.py), `workers` of them at once with `threads`
    intra-op threads each (defaults: plan_workers); False keeps everything in this process, one
    member after another (for a debugger). Results depend on threads, never on workers."""
    from .member_process import run_members
    from .train.monitor import StoppedOnAlert

    out = Path(out)
    prepare_out_dir(out, cfg)
    with logging_to(out):
        eval_tasks, mixture, members = setup(cfg)
        threads = threads or recorded_threads(out / "kernels.json")
        workers, threads = plan_workers(len(members), workers if isolate else 1, threads)
        torch.set_num_threads(threads)  # the kernels are timed as the members will run
        n_ckpt = (len(checkpoint_steps(cfg.train.steps, cfg.train.checkpoints))
                  if cfg.eval.every_checkpoint else 1)
        per_member = cfg.train.steps + n_ckpt
        console = console or Console(stderr=True)
        progress = Progress(TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                            TimeRemainingColumn(), console=console, disable=quiet)
        with progress if not quiet else contextlib.nullcontext():
            bar = progress.add_task("ladder", total=len(members) * per_member)
            kernels = choose_kernels(
                members, mixture, cfg.train, out / "kernels.json",
                on_measure=lambda mid: progress.update(bar, description=f"time  {mid}"))
            log.info("%d members, %d at once, %d threads each", len(members), workers, threads)

            def report(counts: dict[str, int]) -> None:
                busy = [f"{'train' if n < cfg.train.steps else 'eval'} {mid}"
                        for mid, n in counts.items() if n < per_member]
                progress.update(bar, completed=sum(counts.values()),
                                description=", ".join(busy) or "done")

            if isolate:
                # biggest first, so the longest member never starts last and runs alone
                order = sorted(range(len(members)),
                               key=lambda i: -members[i].config.params_nonembed())
                stopped, seconds = run_members(
                    cfg, out, order, [m.model_id for m in members],
                    [kernels[m.model_id] for m in members], workers, threads, monitor, report)
                if monitor is not None:
                    monitor.seconds += seconds
            else:
                stopped, counts = None, {}
                for m in members:
                    def one(n: int, mid=m.model_id) -> None:
                        counts[mid] = n
                        report(counts)

                    step = train_and_evaluate(cfg, out, m, eval_tasks, mixture, monitor, one,
                                              kernels[m.model_id])
                    counts[m.model_id] = per_member
                    if step is not None:
                        stopped = (m.model_id, step)
                        break
            if stopped is not None:
                mid, step = stopped
                raise StoppedOnAlert(mid, step, f"{mid} stopped on alert at step {step} "
                                     "(checkpoint saved); rerun the same command to resume")
            progress.update(bar, completed=len(members) * per_member, description="done")
    return out


def run_dirs(cfg: RunConfig | SuiteConfig, out: Path) -> list[Path]:
    """The run directories a config writes: out itself, or one per experiment of a suite."""
    if isinstance(cfg, SuiteConfig):
        return [Path(out) / exp.name for exp in cfg.experiments]
    return [Path(out)]


def run_any(cfg: RunConfig | SuiteConfig, out: Path, quiet: bool = False,
            console: Console | None = None, probes=None, stop_on_alert: bool = False,
            isolate: bool = True, workers: int | None = None,
            threads: int | None = None) -> list[Path]:
    """Run a single ladder, or every experiment of a suite in turn (each resumable). probes: a
    list of ProbeConfig watched during training, logged to OUT/monitor.jsonl."""
    out = Path(out)
    monitor = None
    if probes:
        from .train.monitor import CapabilityMonitor

        monitor = CapabilityMonitor(probes, out / "monitor.jsonl", stop_on_alert,  # validates
                                    seed=getattr(cfg, "seed", 0))
        prepare_out_dir(out, cfg)
    if isinstance(cfg, SuiteConfig):
        prepare_out_dir(out, cfg)
        for exp, d in zip(cfg.experiments, run_dirs(cfg, out)):
            if console and not quiet:
                console.print(f"experiment {exp.name} -> {d}", highlight=False)
            if monitor is not None:
                monitor.experiment = exp.name  # experiments run one after another
            run(exp, d, quiet=quiet, console=console, monitor=monitor, isolate=isolate,
                workers=workers, threads=threads)
    else:
        run(cfg, out, quiet=quiet, console=console, monitor=monitor, isolate=isolate,
            workers=workers, threads=threads)
    if monitor is not None:
        log.info("monitor: %.1f s spent probing", monitor.seconds)
    return run_dirs(cfg, out)
