"""One experiment end to end: tasks -> mixture -> ladder -> train -> checkpoints -> evaluate ->
samples + results -> report. Every stage resumes: training from its last checkpoint, evaluation
from the partitions already written.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .config import RunConfig, SuiteConfig, same_config, to_toml
from .device import describe, resolve_device
from .errors import UserError
from .execute import LadderJob, LocalPool
from .execute.member import logging_to, member_finished
from .experiment import build_batches, setup
from .run_lock import run_dir_lock
from .store import write_atomic
from .train.kernels import choose_kernels, recorded_threads

log = logging.getLogger("emergelab")


def check_out_dir(out: Path, cfg: RunConfig | SuiteConfig) -> bool:
    """Whether out already holds this run (to resume); a different run there is an error."""
    cfg_path = out / "config.toml"
    try:
        if not cfg_path.exists():
            return False
        if not same_config(cfg_path.read_text(), cfg, str(cfg_path)):
            raise UserError(f"{out} holds a run with a different config; use another --out")
        return True
    except OSError as err:
        raise UserError(f"cannot read {cfg_path}: {err.strerror}") from None


def prepare_out_dir(out: Path, cfg: RunConfig | SuiteConfig) -> None:
    """Create the run dir and its config.toml, or accept it for resuming the same config."""
    text = to_toml(cfg)
    cfg_path = out / "config.toml"
    if check_out_dir(out, cfg):
        return
    try:
        if out.exists() and not out.is_dir():
            raise UserError(f"--out {out} exists and is not a directory")
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(cfg_path, text)
    except OSError as err:
        raise UserError(f"cannot write to --out {out}: {err.strerror}") from None


def run(cfg: RunConfig, out: Path, quiet: bool = False, console: Console | None = None,
        monitor=None, backend=None, device: str | None = None) -> Path:
    """Train and evaluate the whole ladder of cfg into out; returns out. monitor: a
    CapabilityMonitor watching every member's training (evaluate/monitor.py). backend: how members
    run (execute/: LocalPool by default, RayCluster, InProcess). device: where they train and are
    evaluated (device.py; auto: CUDA when present). Results depend on the threads per member and
    the device, never on the backend."""
    from .evaluate.monitor import StoppedOnAlert

    out = Path(out).resolve()  # workers elsewhere (processes, Ray nodes) see the same path
    backend = backend or LocalPool()
    dev = resolve_device(device)
    prepare_out_dir(out, cfg)
    with logging_to(out):
        _, mixture, members = setup(cfg)
        if all(member_finished(cfg, m, out) for m in members):  # a finished run is only read
            log.info("%d members already trained and evaluated: nothing to do", len(members))
            return out
        from .execute.local_pool import member_peak_bytes

        biggest = max(members, key=lambda m: m.config.params_nonembed())
        threads = backend.plan(len(members), recorded_threads(out / "kernels.json"),
                               member_peak_bytes(biggest.config, cfg.train.batch_size))
        torch.set_num_threads(threads)  # the kernels are timed as the members will run
        console = console or Console(stderr=True)
        progress = Progress(TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                            TimeRemainingColumn(), console=console, disable=quiet)
        with progress if not quiet else contextlib.nullcontext():
            job = LadderJob(cfg, out, tuple(m.model_id for m in members), (), threads,
                            str(dev), monitor)
            bar = progress.add_task("batches", total=len(members) * job.steps_per_member)
            build_batches(cfg, mixture, members, out)

            def timing(what: str) -> None:
                progress.update(bar, description=f"time  {what}")

            kernels = choose_kernels(members, mixture, cfg.train, out / "kernels.json",
                                     device=dev, on_measure=timing)
            units = seed_group_units(cfg, mixture, members, kernels, out, dev, monitor, timing)
            job = replace(job, kernels=tuple(kernels[m.model_id] for m in members), units=units)
            totals = {job.unit_name(i): job.unit_steps(i) for i in range(job.n_units)}
            progress.update(bar, total=sum(totals.values()))
            log.info("%d members (%d workers' units) on %s, %s, %d threads each", len(members),
                     job.n_units, describe(dev), backend.describe(), threads)

            def report(counts: dict[str, int]) -> None:
                busy = [f"{'train' if n < cfg.train.steps else 'eval'} {mid}"
                        for mid, n in counts.items() if n < totals[mid]]
                progress.update(bar, completed=sum(counts.values()),
                                description=", ".join(busy) or "done")

            # biggest first, so the longest unit never starts last and runs alone
            order = sorted(range(job.n_units), key=lambda i: -sum(
                members[j].config.params_nonembed() for j in job.unit(i)))
            stopped, seconds = backend.run(job, order, report)
            if monitor is not None:
                monitor.seconds += seconds
            if stopped is not None:
                mid, step = stopped
                raise StoppedOnAlert(mid, step, f"{mid} stopped on alert at step {step} "
                                     "(checkpoint saved); rerun the same command to resume")
            progress.update(bar, completed=sum(totals.values()), description="done")
    return out


def seed_group_units(cfg: RunConfig, mixture, members, kernels, out: Path, dev, monitor,
                     on_measure=None) -> tuple[tuple[int, ...], ...]:
    """What each worker runs: the seeds of a member shape together where stacking them is
    faster (train/kernels.choose_seed_groups; CPU only, and not under a capability monitor,
    which watches one model at a time), else each member alone."""
    from .experiment import member_mixture
    from .train.kernels import choose_seed_groups

    if len(cfg.ladder.seeds) < 2 or monitor is not None or dev.type != "cpu":
        return ()
    mixtures = {m.model_id: member_mixture(cfg, mixture, m) for m in members}
    batched = choose_seed_groups(members, mixtures, cfg.train, out / "kernels.json", kernels,
                                 on_measure)
    by_shape: dict[str, list[int]] = {}
    for i, m in enumerate(members):
        by_shape.setdefault(m.shape, []).append(i)
    units = []
    for label, idx in by_shape.items():
        units += [tuple(idx)] if batched.get(label) else [(i,) for i in idx]
    return tuple(units)


def run_dirs(cfg: RunConfig | SuiteConfig, out: Path) -> list[Path]:
    """The run directories a config writes: out itself, or one per experiment of a suite."""
    if isinstance(cfg, SuiteConfig):
        return [Path(out) / exp.name for exp in cfg.experiments]
    return [Path(out)]


def run_any(cfg: RunConfig | SuiteConfig, out: Path, quiet: bool = False,
            console: Console | None = None, probes=None, stop_on_alert: bool = False,
            backend=None, device: str | None = None) -> list[Path]:
    """Run a single ladder, or every experiment of a suite in turn (each resumable). probes: a
    list of ProbeConfig watched during training, logged to OUT/monitor.jsonl."""
    out = Path(out)
    backend = backend or LocalPool()
    backend.check()  # bad options end here, before anything is written
    resolve_device(device)
    check_out_dir(out, cfg)  # before the lock creates anything
    monitor = None
    if probes:
        from .evaluate.monitor import CapabilityMonitor

        monitor = CapabilityMonitor(probes, out / "monitor.jsonl", stop_on_alert,  # validates
                                    seed=getattr(cfg, "seed", 0))
    with run_dir_lock(out):
        _run_locked(cfg, out, quiet, console, monitor, backend, device)
    return run_dirs(cfg, out)


def _run_locked(cfg: RunConfig | SuiteConfig, out: Path, quiet: bool, console, monitor, backend,
                device) -> None:
    if monitor is not None:
        prepare_out_dir(out, cfg)
    if isinstance(cfg, SuiteConfig):
        prepare_out_dir(out, cfg)
        for exp, d in zip(cfg.experiments, run_dirs(cfg, out)):
            if console and not quiet:
                console.print(f"experiment {exp.name} -> {d}", highlight=False)
            if monitor is not None:
                monitor.experiment = exp.name  # experiments run one after another
            run(exp, d, quiet=quiet, console=console, monitor=monitor, backend=backend,
                device=device)
    else:
        run(cfg, out, quiet=quiet, console=console, monitor=monitor, backend=backend,
            device=device)
    if monitor is not None:
        log.info("monitor: %.1f s spent probing", monitor.seconds)
